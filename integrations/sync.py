"""Sync runs: pull every stream of a connection from its stored cursor, committing data and
cursor together per page, so a run killed half-way resumes where the last page ended."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import current_app
from sqlalchemy import select, text, update

from cs_platform.bulk_writes import is_postgres
from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.webhooks.ssrf import public_only_session
from integrations.connectors import CONNECTORS
from integrations.connectors.base import Connector
from integrations.crypto import CredentialsError, decrypt_credentials
from integrations.hosts import policy_for
from integrations.http import (
    AuthFailedError,
    BudgetExhaustedError,
    IntegrationError,
    MalformedResponseError,
    RateLimitedError,
)
from integrations.models import Connection, SyncRun, SyncState, UnmatchedRecord
from integrations.records import Outcome, Page, Stream
from integrations.usage import resolve_group

log = logging.getLogger(__name__)
# Errors after which the connection is fine and the next run simply goes on. A page that stayed
# malformed is bad input from the source, not a broken connection: the next run asks for it again.
TRANSIENT = (BudgetExhaustedError, MalformedResponseError, RateLimitedError)


class SyncError(Exception):
    """A connection cannot be synced at all (unknown, or of a kind without a connector)."""


def connector_for(connection: Connection, **client_options: Any) -> Connector:
    """The connector of `connection` with an authenticated HTTP client."""
    cls = CONNECTORS.get(connection.kind)
    if cls is None:
        raise SyncError(f"connections of kind {connection.kind!r} are not pulled by sync runs")
    client_options.setdefault("timeout", current_app.config["INTEGRATIONS_HTTP_TIMEOUT"])
    client_options.setdefault(
        "hosts", policy_for(connection.kind, current_app.config["INTEGRATIONS_ALLOWED_HOSTS"])
    )
    if not current_app.config["INTEGRATIONS_ALLOW_PRIVATE_HOSTS"]:
        client_options.setdefault("session", public_only_session())
    credentials = decrypt_credentials(connection.credentials_encrypted)
    return cls(connection, cls.build_client(connection, credentials, **client_options))


def find_connection(name_or_id: str | int) -> Connection:
    """A connection by name or id, or SyncError."""
    query = select(Connection).where(
        Connection.name == str(name_or_id)
        if not str(name_or_id).isdigit()
        else Connection.id == int(name_or_id)
    )
    connection = db.session.scalar(query)
    if connection is None:
        raise SyncError(f"no connection {name_or_id!r}")
    return connection


def run_sync(connection: Connection, sleep: Callable[[float], None] = time.sleep) -> SyncRun:
    """Run every stream of `connection` once; returns the recorded SyncRun."""
    db.session.execute(
        update(SyncRun)
        .where(SyncRun.connection_id == connection.id, SyncRun.status == "running")
        .values(status="abandoned", error="the process running it stopped")
    )
    run = SyncRun(connection_id=connection.id)
    db.session.add(run)
    db.session.commit()
    started = time.perf_counter()
    connector: Connector | None = None
    try:
        connector = connector_for(connection, sleep=sleep)
        for stream in connector.streams():
            sync_stream(stream, run)
    except (IntegrationError, CredentialsError, SyncError) as exc:
        db.session.rollback()
        record_failure(connection, run, exc)
    except Exception as exc:
        db.session.rollback()  # a bug or a database error: record it, then let it propagate
        run.status, run.error = "failed", f"internal error: {type(exc).__name__}: {exc}"[:2000]
        raise
    else:
        connection.status, connection.last_error = "ok", None
        run.status = "succeeded"
    finally:
        run.finished_at = utcnow()
        run.duration_seconds = round(time.perf_counter() - started, 3)
        if connector is not None and connector.client is not None:
            run.requests = connector.client.requests_made
            run.waited_seconds = round(connector.client.waited_seconds, 3)
        db.session.commit()
    log.info(
        "sync run finished",
        extra={"connection": connection.name, "status": run.status, "fetched": run.fetched},
    )
    return run


def sync_stream(stream: Stream, run: SyncRun) -> None:
    """Pull one stream page by page; each page commits its rows, its cursor and the counts."""
    state = SyncState.for_stream(stream.connection.id, stream.name)
    try:
        for page in prefetched(stream.pages(state.cursor)):
            relax_commit_durability()
            add_counts(run, len(page.records), stream.store(page.records))
            state.cursor = page.cursor
            db.session.commit()
    except IntegrationError as exc:
        db.session.rollback()
        state.last_error = str(exc)
        db.session.commit()
        raise
    state.last_success_at, state.last_error = utcnow(), None
    db.session.commit()


def relax_commit_durability() -> None:
    """Skip the WAL flush wait at this page's commit (PostgreSQL). Safe here: a crash can only
    lose the last pages together with their cursor, and the next run fetches them again."""
    if is_postgres():
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def prefetched(pages: Iterator[Page]) -> Iterator[Page]:
    """Fetch the next page in a thread while this one is stored (fetching touches no database).

    The fetcher stops when the consumer does: it only ever waits on a queue of one page.
    """
    box: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def fetch() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    with contextlib.suppress(queue.Full):
                        box.put(page, timeout=0.1)
                        break
                if stop.is_set():
                    return
            box.put(done)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            box.put(exc)

    thread = threading.Thread(target=fetch, name="sync-prefetch", daemon=True)
    thread.start()
    try:
        while (item := box.get()) is not done:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def add_counts(run: SyncRun, fetched: int, outcome: Outcome) -> None:
    run.fetched += fetched
    run.created += outcome.created
    run.updated += outcome.updated
    run.unmatched += outcome.unmatched
    run.failed += outcome.failed


def record_failure(connection: Connection, run: SyncRun, exc: Exception) -> None:
    """Mark the run failed; credentials problems and vendor errors mark the connection failing."""
    message = str(exc)
    if isinstance(exc, TRANSIENT):
        message += " (the next run resumes from the last committed page)"
    else:
        connection.status = "failing"
    if isinstance(exc, AuthFailedError):
        message = f"wrong credentials: {message}"
    run.status, run.error = "failed", message
    connection.last_error = message
    log.warning("sync run failed", extra={"connection": connection.name, "error": message})


def check_connection(connection: Connection) -> str | None:
    """None when the connection answers with its credentials, else the reason it does not."""
    try:
        connector_for(connection, sleep=lambda _: None).check()
    except (IntegrationError, CredentialsError, SyncError) as exc:
        return str(exc)
    return None


def resolve_unmatched(record: UnmatchedRecord, account_id: int) -> Outcome:
    """Store a queued record against `account_id` by re-processing its payload."""
    if record.stream == "usage":
        resolve_group(record, account_id)
        return Outcome(updated=1)
    connector = connector_for(record.connection)
    stream = next(s for s in connector.streams() if s.name == record.stream)
    outcome = stream.store([record.payload], forced_account_id=account_id)
    if outcome.failed:
        return outcome
    record.resolved_at = utcnow()
    record.resolved_account_id = account_id
    return outcome
