"""The one outbox of the product: every email and webhook leaves through this table.

Interface::

    enqueue(kind, payload, dedupe_key, not_before=None) -> OutboxMessage
        Adds a row to db.session; the caller commits it in the same transaction as the change
        that caused it, so nothing is sent for a rolled-back change and nothing is lost after a
        committed one. `dedupe_key` is unique: enqueueing the same key twice is refused by the
        database (use `enqueue_many` with set-wise inserts that skip existing keys).
    register_handler(kind, handler, backoff_schedule=None)
        `handler(message)` delivers one message. It raises TransientDeliveryError (retry
        later, after the next step of the back-off schedule, or after exactly `retry_after`
        seconds when the receiver said how long, e.g. HTTP 429 Retry-After: the attempt still
        counts, so a receiver that never stops refusing ends "dead"), PermanentDeliveryError
        (give up: status "failed"), DeliveryDeferredError (not now, e.g. a paused campaign:
        retry later without using an attempt) or DeliveryCancelledError (no longer wanted:
        "cancelled").
        Changes the handler makes to db.session are committed with the message's new status.
        A handler may also return row updates made by `outcome_update` (e.g. "invitation
        sent"): they are written with the "sent" outcome, fenced by the lease like it, and on
        PostgreSQL in the same statement (data-modifying CTEs), so a sent message costs one
        statement and a commit. That statement is built once per shape (which columns of
        which tables) with bind parameters and reused.
        Domains declare their handlers in their wiring module; the factory registers them.
    claim_batch(worker_id, limit) -> list[OutboxMessage]
        Leases due rows to one worker: `FOR UPDATE SKIP LOCKED` on PostgreSQL, so any number of
        workers on any number of machines never claim the same row; a plain select on SQLite,
        where writes are serialised anyway. A lease expires after LEASE_SECONDS, so rows held by
        a crashed worker are claimed again.
    process_batch(worker_id, limit) -> BatchResult
        Claims a batch and delivers it, committing after every message, so a message is marked
        sent right after it left and a clean restart sends nothing twice. The batch runs on one
        connection held from its first message to its last (`batch_session`): a commit per
        message, but no pool check-in, reset and pre-ping per message.

Leases of slow batches: a batch of webhooks to slow receivers (15 s timeouts) can outlive its
lease, and another worker then claims the rest of it again. Two rules keep that safe:

- Fenced writes. Every write a worker makes to a leased row (the outcome, a renewal, a release)
  is `UPDATE ... WHERE id IN (...) AND leased_by = <worker>`; every way out of "sending" clears
  leased_by and a re-claim sets the new holder's id, so a worker whose lease was taken over
  changes nothing: its outcome is rolled back with the handler's changes and the new holder's
  result stands. Worker ids must therefore be unique (the default host:pid is).
- Renewal as it goes. Before each message, once half the lease has run out, the worker extends
  the lease of the rest of its batch in one UPDATE and skips the messages it no longer holds.
  A batch of any length is then claimed again only when its worker stalls for half a lease,
  and a fast batch costs no extra write. This was chosen over smaller webhook batches, which
  would still overrun with enough slow receivers and would need a claim per kind.
    CLI: flask --app wsgi outbox work [--once] [--batch N] [--worker-id ID]

Statuses: pending -> sending -> sent | failed | cancelled, or pending again after a transient
failure; "dead" once the back-off schedule is exhausted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import (
    JSON,
    BindParameter,
    CheckConstraint,
    ColumnDefault,
    Executable,
    Index,
    String,
    Table,
    Text,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.local import LocalProxy

from cs_platform.bulk_writes import insert_ignoring_conflicts
from cs_platform.extensions import Model, db
from cs_platform.models import in_check, utcnow

log = logging.getLogger(__name__)

STATUSES = ("pending", "sending", "sent", "failed", "dead", "cancelled")
LEASE_SECONDS = 300
# The outcome of a message whose lease another worker took over: nothing of it was recorded.
LEASE_LOST = "lease_lost"


def exponential_backoff(base_seconds: int = 30, factor: int = 4, steps: int = 6) -> list[int]:
    """Waits after the 1st, 2nd, ... failed attempt: 30 s, 2 min, 8 min, 32 min, ~2 h, ~8.5 h."""
    return [base_seconds * factor**step for step in range(steps)]


DEFAULT_BACKOFF = exponential_backoff()


class OutboxMessage(Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(in_check("status", STATUSES), name="status"),
        Index("ix_outbox_messages_status_next_attempt", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "email", "webhook"
    payload: Mapped[dict] = mapped_column(JSON)
    # Unique per logical message, e.g. "invitation:42:invite": a re-run never queues it twice.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[dt.datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(100))
    # Messages of one lane (e.g. "webhook:7", one receiver) go out in order on a thread of their
    # own, so a slow lane never holds up another or the mail (None: the worker's own thread).
    lane: Mapped[str | None] = mapped_column(String(80))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]


class DeliveryError(Exception):
    """Base of the outcomes a handler reports by raising."""


class TransientDeliveryError(DeliveryError):
    """Try again later (connection refused, 4xx SMTP reply, HTTP 5xx or 429): after the next
    wait of the back-off schedule, or after exactly `retry_after` seconds when given (a 429's
    Retry-After; not scaled by OUTBOX_BACKOFF_PERCENT)."""

    def __init__(self, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Never try again (5xx SMTP reply to a recipient, HTTP 4xx)."""


class DeliveryCancelledError(DeliveryError):
    """The message is no longer wanted (the contact unsubscribed or already answered)."""


class DeliveryDeferredError(DeliveryError):
    """Not now (e.g. the campaign is paused): retry after `seconds` without using an attempt."""

    def __init__(self, reason: str, seconds: int = 3600) -> None:
        super().__init__(reason)
        self.seconds = seconds


@dataclass(frozen=True)
class OutcomeWrite:
    """UPDATE `table` SET `values` WHERE id = `row_id`, written with a "sent" outcome."""

    table: Table
    row_id: int
    values: dict[str, Any]


# What a handler returns: row updates to commit with the "sent" outcome, under the same fence.
OutcomeWrites = Sequence[OutcomeWrite]
Handler = Callable[[OutboxMessage], OutcomeWrites | None]


def outcome_update(model: type[Model], row_id: int, **values: Any) -> OutcomeWrite:
    """UPDATE `model` SET `values` WHERE id = `row_id`, for a handler to return. The columns'
    Python-side onupdate defaults (e.g. updated_at) are filled in here: SQLAlchemy runs them
    for a statement of its own, not for one that is a CTE of another."""
    table = model.__table__
    for key, default in _onupdate_defaults(table):
        if key not in values:
            values[key] = default.arg(None) if default.is_callable else default.arg
    return OutcomeWrite(table, row_id, values)


@functools.cache
def _onupdate_defaults(table: Table) -> tuple[tuple[str, ColumnDefault], ...]:
    """The columns of `table` with a Python-side onupdate default, and their defaults."""
    return tuple(
        (column.key, column.onupdate)
        for column in table.columns
        if isinstance(column.onupdate, ColumnDefault)
    )


@dataclass(frozen=True)
class Registration:
    handler: Handler
    backoff: Sequence[int]
    # Loads what a batch of messages needs in a few queries, before the first is delivered;
    # what it returns is held for the batch (the session's identity map only keeps weak refs).
    prefetch: Callable[[list[OutboxMessage]], Any] | None = None


@dataclass
class BatchResult:
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, status: str) -> None:
        self.outcomes[status] = self.outcomes.get(status, 0) + 1


_handlers: dict[str, Registration] = {}


def register_handler(
    kind: str,
    handler: Handler,
    backoff_schedule: Sequence[int] | None = None,
    prefetch: Callable[[list[OutboxMessage]], Any] | None = None,
) -> None:
    """Deliver messages of `kind` with `handler`, retrying after each wait of the schedule.

    `prefetch(messages)`, if given, loads the rows a batch needs set-wise into the session.
    """
    _handlers[kind] = Registration(handler, tuple(backoff_schedule or DEFAULT_BACKOFF), prefetch)


def load_handlers() -> dict[str, Registration]:
    """The handlers registered so far, by kind (the factory registers every domain's)."""
    return _handlers


def enqueue(
    kind: str, payload: dict[str, Any], dedupe_key: str, not_before: dt.datetime | None = None
) -> OutboxMessage:
    """Queue one message in the current transaction (the caller commits)."""
    message = OutboxMessage(
        kind=kind,
        payload=payload,
        dedupe_key=dedupe_key,
        status="pending",
        next_attempt_at=not_before or utcnow(),
    )
    db.session.add(message)
    return message


def enqueue_many(rows: list[dict[str, Any]]) -> int:
    """Queue many messages set-wise, skipping dedupe keys already queued; returns rows added.

    Each row has kind, payload, dedupe_key and optionally next_attempt_at and lane.
    """
    if not rows:
        return 0
    now = utcnow()
    values = [
        {
            "kind": row["kind"],
            "payload": row["payload"],
            "dedupe_key": row["dedupe_key"],
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": row.get("next_attempt_at") or now,
            "lane": row.get("lane"),
            "created_at": now,
        }
        for row in rows
    ]
    return len(insert_ignoring_conflicts(OutboxMessage.__table__, values, ["dedupe_key"]))


def _due_clause(now: dt.datetime):
    pending = and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
    expired = and_(OutboxMessage.status == "sending", OutboxMessage.lease_until < now)
    return or_(pending, expired)


def app_object() -> Flask:
    """The app itself, for threads that outlive this context: `current_app` is a proxy (typed
    as the Flask it stands for)."""
    return cast("LocalProxy[Flask]", current_app)._get_current_object()


def lease_seconds() -> int:
    return current_app.config.get("OUTBOX_LEASE_SECONDS", LEASE_SECONDS)


def claim_batch(
    worker_id: str, limit: int = 100, busy_lanes: frozenset[str] = frozenset()
) -> list[OutboxMessage]:
    """Lease up to `limit` due messages to `worker_id` and commit the lease; messages of lanes
    this worker is still delivering wait for them to finish."""
    now = utcnow()
    query = (
        select(OutboxMessage.id)
        .where(_due_clause(now))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if busy_lanes:
        query = query.where(
            or_(OutboxMessage.lane.is_(None), OutboxMessage.lane.not_in(sorted(busy_lanes)))
        )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(query))
    if not ids:
        db.session.commit()
        return []
    lease_until = now + dt.timedelta(seconds=lease_seconds())
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), _due_clause(now))
        .values(
            status="sending",
            lease_until=lease_until,
            leased_by=worker_id,
            attempts=OutboxMessage.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    claimed = select(OutboxMessage).where(
        OutboxMessage.id.in_(ids),
        OutboxMessage.leased_by == worker_id,
        OutboxMessage.lease_until == lease_until,
    )
    # populate_existing: rows already in the session must show this claim, not older values.
    claimed = claimed.order_by(OutboxMessage.id).execution_options(populate_existing=True)
    return list(db.session.scalars(claimed))


def leased_to(worker_id: str, ids: Sequence[int]):
    """The WHERE clause of a fenced write: only rows of `ids` that `worker_id` still holds."""
    return and_(OutboxMessage.id.in_(ids), OutboxMessage.leased_by == worker_id)


@dataclass
class BatchLease:
    """One worker's lease on the rest of its batch, renewed once half of it has run out."""

    worker_id: str
    until: dt.datetime
    held: set[int]

    @classmethod
    def of(cls, worker_id: str, claimed: list[OutboxMessage]) -> BatchLease:
        until = claimed[0].lease_until if claimed else utcnow()
        return cls(worker_id, until, {message.id for message in claimed})  # type: ignore[arg-type]

    def still_holds(self, message: OutboxMessage, remaining: list[OutboxMessage]) -> bool:
        """Whether the worker still holds `message`, renewing the rest of the batch when due.

        Nobody can take a message over before its lease ends, so until half of it has run out
        the answer needs no query.
        """
        now = utcnow()
        if self.until - now <= dt.timedelta(seconds=lease_seconds() / 2):
            self.renew([m.id for m in remaining if m.id in self.held], now)
        return message.id in self.held

    def renew(self, ids: list[int], now: dt.datetime) -> None:
        """Extend the lease of `ids` still held; forget those another worker took over."""
        until = now + dt.timedelta(seconds=lease_seconds())
        renewed = db.session.scalars(
            update(OutboxMessage)
            .where(leased_to(self.worker_id, ids))
            .values(lease_until=until)
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        )
        self.held = set(renewed)
        db.session.commit()
        self.until = until
        lost = len(ids) - len(self.held)
        if lost:
            log.warning("outbox lease lost", extra={"worker": self.worker_id, "messages": lost})


def process_batch(
    worker_id: str,
    limit: int = 100,
    stopping: Callable[[], bool] = lambda: False,
    lanes: LanePool | None = None,
) -> BatchResult:
    """Claim and deliver one batch; each message's outcome is committed on its own.

    Messages without a lane are delivered here, in order; each lane's go to a thread of
    `lanes` (a worker's pool that outlives the batch) or, without one, to threads this call
    waits for. When `stopping()` turns true, the messages not yet started are released to other
    workers. Messages whose lease another worker took over are skipped (counted as LEASE_LOST).
    """
    pool = lanes or LanePool(app_object(), worker_id, stopping)
    claimed = claim_batch(worker_id, limit, pool.busy())
    result = BatchResult()
    own = [message for message in claimed if message.lane is None]
    by_lane: dict[str, list[int]] = {}
    for message in claimed:
        if message.lane is not None:
            by_lane.setdefault(message.lane, []).append(message.id)
    for lane, ids in by_lane.items():
        pool.start(lane, ids)
    deliver_in_order(worker_id, own, stopping, result)
    if lanes is None:
        pool.wait(result)
    return result


def deliver_in_order(
    worker_id: str, messages: list[OutboxMessage], stopping: Callable[[], bool], result
) -> None:
    """Deliver leased messages one after the other, renewing the lease of the rest as it goes,
    in a `batch_session`."""
    handlers = load_handlers()
    with batch_session():
        loaded = _prefetch(messages, handlers)  # noqa: F841 - keeps the batch's rows in the session
        lease = BatchLease.of(worker_id, messages)
        for position, message in enumerate(messages):
            if stopping():
                release(worker_id, [m.id for m in messages[position:]])
                break
            if not lease.still_holds(message, messages[position:]):
                result.count(LEASE_LOST)
                continue
            result.claimed += 1
            result.count(deliver(message, handlers))


@contextlib.contextmanager
def batch_session() -> Iterator[Session]:
    """Make db.session, for one batch, a session on one connection held to its end: each commit
    ends a transaction on it instead of handing it back to the pool, where the next check-out
    would reset it and, with pool_pre_ping, ping the server first.

    Rows loaded for the batch stay loaded across the per-message commits (no reload per
    message): the batch is seconds old at most, and handlers re-check what must be fresh. The
    messages, loaded by the claim in the outer session, stay loaded too; since outcomes and
    handlers' writes are statements that bypass loaded objects, the outer session's are
    expired after the batch.
    """
    outer = db.session()
    expire_on_commit, outer.expire_on_commit = outer.expire_on_commit, False
    try:
        outer.commit()  # no transaction of the outer session stays open during the batch
    finally:
        outer.expire_on_commit = expire_on_commit
    with db.engine.connect() as connection:
        # A plain Session (the registry takes any): Flask-SQLAlchemy's ignores its own bind.
        session = Session(bind=connection, expire_on_commit=False)
        db.session.registry.set(session)  # type: ignore[arg-type]
        try:
            yield session
        finally:
            session.close()
            db.session.registry.set(outer)
            outer.expire_all()


class LanePool:
    """One thread per lane with messages in hand, each with its own app context and session; at
    most OUTBOX_LANES at once (the messages of lanes beyond that go back to the queue)."""

    def __init__(self, app: Flask, worker_id: str, stopping: Callable[[], bool]) -> None:
        self.app, self.worker_id, self.stopping = app, worker_id, stopping
        self.threads: dict[str, threading.Thread] = {}
        self.results: list[BatchResult] = []

    def busy(self) -> frozenset[str]:
        self.threads = {lane: t for lane, t in self.threads.items() if t.is_alive()}
        return frozenset(self.threads)

    def start(self, lane: str, ids: list[int]) -> None:
        if len(self.busy()) >= self.app.config["OUTBOX_LANES"]:
            release(self.worker_id, ids)
            return
        result = BatchResult()
        self.results.append(result)
        thread = threading.Thread(
            target=self.deliver, args=(ids, result), name=f"outbox-{lane}", daemon=True
        )
        self.threads[lane] = thread
        thread.start()

    def deliver(self, ids: list[int], result: BatchResult) -> None:
        with self.app.app_context():
            try:
                held = db.session.scalars(
                    select(OutboxMessage)
                    .where(leased_to(self.worker_id, ids))
                    .order_by(OutboxMessage.id)
                ).all()
                if len(held) < len(ids):
                    result.outcomes[LEASE_LOST] = len(ids) - len(held)
                deliver_in_order(self.worker_id, list(held), self.stopping, result)
            except Exception:
                log.exception("outbox lane failed", extra={"worker": self.worker_id})
            finally:
                db.session.remove()

    def wait(self, into: BatchResult | None = None) -> None:
        """Join every lane; add what they did to `into`."""
        for thread in list(self.threads.values()):
            thread.join()
        if into is not None:
            for result in self.results:
                into.claimed += result.claimed
                for status, count in result.outcomes.items():
                    into.outcomes[status] = into.outcomes.get(status, 0) + count
        self.results.clear()


def _prefetch(messages: list[OutboxMessage], handlers: dict[str, Registration]) -> list[Any]:
    by_kind: dict[str, list[OutboxMessage]] = {}
    for message in messages:
        by_kind.setdefault(message.kind, []).append(message)
    loaded = []
    for kind, group in by_kind.items():
        registration = handlers.get(kind)
        if registration is not None and registration.prefetch is not None:
            loaded.append(registration.prefetch(group))
    return loaded


def release(worker_id: str, ids: list[int]) -> None:
    """Hand leased, unstarted messages back: due now, and the claim's attempt not counted."""
    db.session.execute(
        update(OutboxMessage)
        .where(leased_to(worker_id, ids))
        .values(
            status="pending",
            attempts=OutboxMessage.attempts - 1,
            lease_until=None,
            leased_by=None,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def deliver(message: OutboxMessage, handlers: dict[str, Registration]) -> str:
    """Run the handler of one leased message and commit its outcome, with the handler's changes,
    only if this worker still holds the lease; returns the status (LEASE_LOST when it did not)."""
    # This claim, read before the handler runs: a rollback would reload the row as it is now.
    message_id, worker_id, attempts = message.id, message.leased_by, message.attempts
    outcome, writes = _run_handler(message, handlers, attempts)
    outcome |= {"lease_until": None, "leased_by": None}
    if not _record(message_id, worker_id, outcome, writes):  # type: ignore[arg-type]
        db.session.rollback()
        log.warning("outbox lease lost; outcome dropped", extra={"message_id": message_id})
        return LEASE_LOST
    db.session.commit()
    return outcome["status"]


def _record(
    message_id: int, worker_id: str, outcome: dict[str, Any], writes: OutcomeWrites
) -> bool:
    """Write the outcome to the message if `worker_id` still holds its lease, and `writes` with
    it; whether it did. The handler's changes to the session are flushed first."""
    db.session.flush()
    connection = db.session.connection()
    shapes = tuple((write.table, tuple(write.values)) for write in writes)
    first, *rest = _record_statements(connection.dialect.name, tuple(outcome), shapes)
    params = _record_params(message_id, worker_id, outcome, writes)
    if not connection.execute(first, params).scalar():
        return False
    for statement in rest:
        connection.execute(statement, params)
    return True


WriteShape = tuple[Table, tuple[str, ...]]


@functools.lru_cache(maxsize=64)
def _record_statements(
    dialect: str, outcome_columns: tuple[str, ...], write_shapes: tuple[WriteShape, ...]
) -> tuple[Executable, ...]:
    """The statements that record an outcome and writes of these shapes, with bind parameters
    (`_record_params`), built once per shape: on PostgreSQL one statement whose writes run only
    if the fenced outcome did, answering 1 or 0; elsewhere the outcome (answering the id, or
    nothing when the fence failed) and then each write."""
    table = OutboxMessage.__table__
    fence = and_(table.c.id == bindparam("message_id"), table.c.leased_by == bindparam("worker_id"))
    recorded = (
        update(table)
        .where(fence)
        .values(_bound_values(table, outcome_columns, "outcome"))
        .returning(table.c.id)
    )
    writes = [
        update(target)
        .where(target.c.id == bindparam(f"write_{number}_id"))
        .values(_bound_values(target, columns, f"write_{number}"))
        for number, (target, columns) in enumerate(write_shapes)
    ]
    if not writes or dialect != "postgresql":
        return (recorded, *writes)
    done = recorded.cte("recorded")
    held = exists(select(done.c.id))
    query = select(func.count()).select_from(done)
    for number, write in enumerate(writes):
        query = query.add_cte(write.where(held).cte(f"write_{number}"))
    return (query,)


def _bound_values(table: Table, columns: tuple[str, ...], prefix: str) -> dict[str, BindParameter]:
    return {name: bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in columns}


def _record_params(
    message_id: int, worker_id: str, outcome: dict[str, Any], writes: OutcomeWrites
) -> dict[str, Any]:
    """The values of `_record_statements`' bind parameters."""
    params = {"message_id": message_id, "worker_id": worker_id}
    params.update({f"outcome_{name}": value for name, value in outcome.items()})
    for number, write in enumerate(writes):
        params[f"write_{number}_id"] = write.row_id
        params.update({f"write_{number}_{name}": value for name, value in write.values.items()})
    return params


def _run_handler(
    message: OutboxMessage, handlers: dict[str, Registration], attempts: int
) -> tuple[dict[str, Any], OutcomeWrites]:
    """Deliver one message; returns the columns of its outcome (attempts counts this claim)
    and the handler's writes that go with it."""
    registration = handlers.get(message.kind)
    if registration is None:
        failure = f"no handler registered for kind {message.kind!r}"
        return {"status": "failed", "last_error": failure}, ()
    try:
        writes = registration.handler(message)
    except DeliveryError as error:
        return _failure_outcome(message.id, error, attempts, registration.backoff), ()
    except Exception as error:
        db.session.rollback()  # drop the handler's half-done changes
        log.exception("outbox handler crashed", extra={"message_id": message.id})
        failure = f"{type(error).__name__}: {error}"
        return _retry(attempts, registration.backoff, failure, utcnow(), message.id), ()
    return {"status": "sent", "sent_at": utcnow(), "last_error": None}, writes or ()


def _failure_outcome(
    message_id: int, error: DeliveryError, attempts: int, backoff: Sequence[int]
) -> dict[str, Any]:
    """The outcome columns of a handler's reported failure."""
    now = utcnow()
    if isinstance(error, DeliveryDeferredError):
        return {
            "status": "pending",
            "attempts": attempts - 1,
            "next_attempt_at": now + dt.timedelta(seconds=error.seconds),
            "last_error": str(error),
        }
    if isinstance(error, DeliveryCancelledError):
        return {"status": "cancelled", "last_error": str(error)}
    if isinstance(error, PermanentDeliveryError):
        return {"status": "failed", "last_error": str(error)}
    retry_after = getattr(error, "retry_after", None)
    return _retry(attempts, backoff, str(error), now, message_id, retry_after=retry_after)


def _retry(
    attempts: int,
    backoff: Sequence[int],
    error: str,
    now: dt.datetime,
    message_id: int,
    *,
    retry_after: int | None = None,
) -> dict[str, Any]:
    """The outcome of a failed attempt: pending after the next wait (or `retry_after` seconds,
    the receiver's own word), or dead when the schedule's attempts are used up."""
    if attempts > len(backoff):
        log.warning("outbox message dead", extra={"message_id": message_id, "error": error})
        return {"status": "dead", "last_error": error[:2000]}
    if retry_after is not None:
        wait = float(retry_after)
    else:
        wait = backoff[attempts - 1] * current_app.config.get("OUTBOX_BACKOFF_PERCENT", 100) / 100
    return {
        "status": "pending",
        "next_attempt_at": now + dt.timedelta(seconds=wait),
        "last_error": error[:2000],
    }


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def work(worker_id: str, batch: int, once: bool, idle_seconds: float = 1.0) -> int:
    """Deliver until stopped; returns messages done.

    SIGTERM/SIGINT finish the message being delivered and release the rest of the batch.
    """
    stopping: list[bool] = []
    if not once:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.append(True))
    done = 0
    is_stopping = lambda: bool(stopping)  # noqa: E731 - shared by the worker and its lanes
    lanes = None if once else LanePool(app_object(), worker_id, is_stopping)
    while not stopping:
        result = process_batch(worker_id, batch, stopping=is_stopping, lanes=lanes)
        done += result.claimed
        if once:
            break
        if result.claimed == 0:
            time.sleep(idle_seconds)
    if lanes is not None:
        lanes.wait()
    return done


outbox_group = AppGroup("outbox", help="Deliver queued emails and webhooks.")


@outbox_group.command("work")
@click.option("--once", is_flag=True, help="Deliver one batch and exit.")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--worker-id", default=None, help="Name in leases; defaults to host:pid.")
def work_command(once: bool, batch: int, worker_id: str | None) -> None:
    """Deliver due outbox messages; run as many workers as you like."""
    done = work(worker_id or default_worker_id(), batch, once)
    click.echo(f"delivered {done} message(s)")
