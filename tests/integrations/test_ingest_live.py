"""Ingestion served by gunicorn with the production config, driven by the real Segment and
RudderStack SDKs and by raw sockets that stream bodies the way an attacker would."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rudderstack.analytics.client import Client as RudderClient
from rudderstack.analytics.request import APIError as RudderAPIError
from segment.analytics.client import Client as SegmentClient
from sqlalchemy import func, select

from cs_platform.extensions import db
from cs_platform.models import Account, utcnow
from integrations.csv_import import import_usage_csv
from integrations.models import Connection, RawUsageEvent, UsageDaily
from integrations.usage import hash_write_key, roll_up_all
from tests.factories import AccountFactory
from tests.faults.conftest import REPO, FaultDatabase, deployment_database, free_port, wait_for

WRITE_KEY = "wk_live_8c1d5e"
CHUNK = b"x" * 65_536


@dataclass
class IngestServer:
    url: str
    port: int
    access_log: Path
    database: FaultDatabase

    def stored(self) -> int:
        db.session.expire_all()
        return db.session.scalar(select(func.count()).select_from(RawUsageEvent))


@pytest.fixture
def ingest_server(scratch_database_url, tmp_path) -> Iterator[IngestServer]:
    """gunicorn with deploy/gunicorn.conf.py on a fresh database holding one Segment source."""
    for database in deployment_database(scratch_database_url(), tmp_path):
        db.session.add(
            Connection(name="web app", kind="segment", write_key_hash=hash_write_key(WRITE_KEY))
        )
        db.session.commit()
        port = free_port()
        log = tmp_path / "gunicorn.log"
        server = start_gunicorn(database, port, log)
        try:
            wait_for(lambda port=port: port_open(port), 30, "gunicorn to listen")
            yield IngestServer(f"http://127.0.0.1:{port}", port, log, database)
        finally:
            server.terminate()
            server.wait(timeout=15)


def start_gunicorn(database: FaultDatabase, port: int, log: Path) -> subprocess.Popen:
    env = database.env(BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY=1, WEB_THREADS=4)
    with log.open("ab") as output:
        return subprocess.Popen(
            [Path(sys.executable).parent / "gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def chunked_request(key: str | None) -> bytes:
    auth = f"Authorization: Basic {base64.b64encode(f'{key}:'.encode()).decode()}\r\n"
    return (
        "POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{auth if key else ''}Transfer-Encoding: chunked\r\n\r\n"
    ).encode()


def stream_until_answered(port: int, head: bytes, limit_bytes: int) -> tuple[bytes, int]:
    """Send `head`, then 64 KB chunks until the server answers or `limit_bytes` are sent;
    returns the answer's first bytes and how much body was sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        sent = 0
        sock.setblocking(False)
        while sent < limit_bytes:
            try:
                answer = sock.recv(4096)
            except BlockingIOError:
                answer = b""
            if answer:
                return answer, sent
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                time.sleep(0.01)
                continue
            sent += len(CHUNK)
        sock.setblocking(True)
        return sock.recv(4096), sent


def read_to_close(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    return answer


def test_a_wrong_key_is_refused_before_a_chunked_body_is_read(ingest_server):
    answer, sent = stream_until_answered(
        ingest_server.port, chunked_request("wrong-key"), 600_000_000
    )

    assert answer.startswith(b"HTTP/1.1 401")
    assert sent < 5_000_000


def test_a_chunked_body_without_a_key_is_cut_at_the_size_limit(ingest_server):
    answer, sent = stream_until_answered(ingest_server.port, chunked_request(None), 600_000_000)

    assert answer.startswith(b"HTTP/1.1 413")
    assert sent < 10_000_000
    assert ingest_server.stored() == 0


def test_a_chunked_body_with_a_good_key_is_cut_at_the_size_limit_too(ingest_server):
    answer, sent = stream_until_answered(
        ingest_server.port, chunked_request(WRITE_KEY), 600_000_000
    )

    assert answer.startswith(b"HTTP/1.1 413")
    assert sent < 10_000_000
    assert ingest_server.stored() == 0


def test_a_declared_length_over_the_limit_is_refused_before_any_body(ingest_server):
    head = (
        b"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 600000000\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", ingest_server.port), timeout=10) as sock:
        sock.sendall(head)
        answer = read_to_close(sock)

    assert answer.startswith(b"HTTP/1.1 413")
    assert b'"too_large"' in answer


def test_segment_sdk_with_gzip_delivers_its_batch(ingest_server):
    errors: list[Exception] = []
    client = SegmentClient(
        WRITE_KEY, host=ingest_server.url, gzip=True, sync_mode=True, max_retries=0,
        on_error=lambda error, _batch: errors.append(error),
    )  # fmt: skip

    for number in range(5):
        client.track(f"user-{number}", "Report Exported", context={"groupId": "acme"})

    assert errors == []
    assert ingest_server.stored() == 5


def test_rudderstack_sdk_with_its_defaults_delivers_its_batch(ingest_server):
    errors: list[Exception] = []
    client = RudderClient(
        WRITE_KEY, host=ingest_server.url, sync_mode=True, max_retries=0,
        on_error=lambda error, _batch: errors.append(error),
    )  # fmt: skip

    for number in range(4):
        client.track(f"user-{number}", "Dashboard Viewed", context={"groupId": "acme"})

    assert errors == []
    assert ingest_server.stored() == 4


def test_rudderstack_sdk_reads_our_error_body_without_crashing(ingest_server):
    client = RudderClient("not-the-key", host=ingest_server.url, sync_mode=True, max_retries=0)

    with pytest.raises(RudderAPIError) as refused:
        client.track("user-1", "Dashboard Viewed")

    assert (refused.value.status, refused.value.code) == (401, "unauthorized")


def test_the_write_key_never_reaches_the_access_log(ingest_server):
    client = SegmentClient(WRITE_KEY, host=ingest_server.url, sync_mode=True, max_retries=0)
    client.track("user-1", "Report Exported", context={"groupId": "acme"})
    client.flush()

    wait_for(lambda: "/v1/batch" in ingest_server.access_log.read_text(), 10, "an access line")
    log = ingest_server.access_log.read_text()
    assert WRITE_KEY not in log
    assert base64.b64encode(f"{WRITE_KEY}:".encode()).decode() not in log


# Linking users to accounts with group(), then tracks without a groupId, as apps send them.

TRACKS = 27


def usage_by_source(domain: str) -> dict[str, tuple[int, int, int]]:
    """(active users, events, features used) per source on today's row of the account."""
    db.session.expire_all()
    query = (
        select(UsageDaily.source, UsageDaily.active_users, UsageDaily.events,
               UsageDaily.features_used)
        .join(Account, Account.id == UsageDaily.account_id)
        .where(Account.domain == domain, UsageDaily.day == utcnow().date())
    )  # fmt: skip
    return {source: tuple(figures) for source, *figures in db.session.execute(query)}


def combined_today(domain: str) -> tuple[int, int, int]:
    usage = UsageDaily.combined(UsageDaily.day == utcnow().date())
    query = (
        select(usage.c.active_users, usage.c.events, usage.c.features_used)
        .join(Account, Account.id == usage.c.account_id)
        .where(Account.domain == domain)
    )
    return tuple(db.session.execute(query).one())


def send_a_linked_session(client) -> None:
    """identify, group (user -> account), then tracks without a groupId; flushed."""
    client.identify("ann", {"email": "ann@acme.example"})
    client.group("ann", "acme.example", {"name": "Acme"})
    for number in range(TRACKS):
        client.track("ann", f"Feature {number % 3} Used")
    client.flush()
    client.join()


def import_todays_csv(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(f"domain,day,active_users,events,features_used\n"
                    f"acme.example,{utcnow().date()},28,20,2\n")  # fmt: skip
    assert import_usage_csv(path).problems == []
    db.session.commit()


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
def test_tracks_after_a_group_call_all_count_and_sit_beside_a_csv_import(
    ingest_server, tmp_path, sdk
):
    AccountFactory(domain="acme.example")
    errors: list[Exception] = []
    on_error = lambda error, _batch: errors.append(error)  # noqa: E731
    client = (
        SegmentClient(WRITE_KEY, host=ingest_server.url, gzip=True, on_error=on_error)
        if sdk == "segment"
        else RudderClient(WRITE_KEY, host=ingest_server.url, on_error=on_error)  # gzip: default
    )

    send_a_linked_session(client)
    roll_up_all()
    db.session.commit()

    assert errors == []
    assert usage_by_source("acme.example") == {"events": (1, TRACKS, 3)}  # 27 of 27 tracks

    import_todays_csv(tmp_path)

    assert usage_by_source("acme.example") == {"events": (1, TRACKS, 3), "csv": (28, 20, 2)}
    assert combined_today("acme.example") == (28, TRACKS, 3)  # the largest of each figure
