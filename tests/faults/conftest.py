"""Fault-test fixtures: a scratch PostgreSQL database with the schema, real `flask --app wsgi`
processes started and killed on purpose, and an SMTP server that counts what it received."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import text

from cs_platform import create_app
from cs_platform.extensions import db
from tests.conftest import postgres_server_url

REPO = Path(__file__).resolve().parents[2]
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
SKIP_REASON = (
    "fault tests start real processes against PostgreSQL; set TEST_DATABASE_URL (CI always does)"
)


@dataclass
class FaultDatabase:
    """A scratch database with the full schema, and an app bound to it in this process."""

    url: str
    instance: Path
    app: Flask

    def env(self, **extra: str | int) -> dict[str, str]:
        """The environment of a process of this deployment."""
        env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "INSTANCE_PATH": str(self.instance),
            "PYTHONPATH": str(REPO),
            "LOG_LEVEL": "WARNING",
            "SCHEDULER_ENABLED": "0",
        }
        env.update({key: str(value) for key, value in extra.items()})
        return env

    def scalar(self, sql: str, **params) -> object:
        """One value read in a fresh transaction (what other processes have committed)."""
        with db.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params) -> list[tuple]:
        with db.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]


@pytest.fixture
def fault_db(scratch_database_url, tmp_path) -> Iterator[FaultDatabase]:
    """A fresh PostgreSQL database with every table, and this process's app context on it."""
    if postgres_server_url() is None:
        pytest.skip(SKIP_REASON)
    yield from deployment_database(scratch_database_url(), tmp_path)


@pytest.fixture
def any_db(scratch_database_url, tmp_path) -> Iterator[FaultDatabase]:
    """Like fault_db, on the session's kind of database (SQLite serves several processes too)."""
    yield from deployment_database(scratch_database_url(), tmp_path)


def deployment_database(url: str, tmp_path: Path) -> Iterator[FaultDatabase]:
    instance = tmp_path / "instance"
    application = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url}, instance_path=str(instance)
    )
    with application.app_context():
        db.create_all()
        yield FaultDatabase(url, instance, application)
        db.session.remove()
        db.engine.dispose()


@dataclass
class Processes:
    """`flask --app wsgi ...` processes of one test; whatever still runs is stopped at the end."""

    logs: Path
    started: list[subprocess.Popen] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        """`flask --app wsgi *args`."""
        return self.start_program(
            name, [sys.executable, "-m", "flask", "--app", "wsgi", *args], env
        )

    def start_program(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        """Any program of this checkout (gunicorn, say), logged like the others."""
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        process.name = name  # type: ignore[attr-defined]
        self.started.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """kill -9: no clean-up, no signal handler, connections dropped by the kernel."""
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def kill_pid(self, pid: int) -> None:
        """kill -9 a process this test did not start itself (a gunicorn worker, say)."""
        os.kill(pid, signal.SIGKILL)

    def log_of(self, process: subprocess.Popen) -> str:
        return (self.logs / f"{process.name}.log").read_text(errors="replace")  # type: ignore[attr-defined]

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    yield started
    started.stop_all()


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2
) -> None:
    """Poll `condition` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class CountingSink:
    """An aiosmtpd handler that counts received messages by Message-ID."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        match = MESSAGE_ID.search(envelope.content)
        with self._lock:
            self.received[match.group(1).decode() if match else "<none>"] += 1
        return "250 OK"

    def unique(self) -> int:
        with self._lock:
            return len(self.received)

    def duplicates(self) -> int:
        """Deliveries beyond the first of each message."""
        with self._lock:
            return sum(count - 1 for count in self.received.values())


class CountingSmtpServer:
    """A real SMTP server on a fixed 127.0.0.1 port that a test can stop and start again."""

    def __init__(self, port: int) -> None:
        self.sink, self.port = CountingSink(), port
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def counting_smtp() -> Iterator[CountingSmtpServer]:
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    server = CountingSmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sqlite_db(tmp_path) -> Iterator[FaultDatabase]:
    """A SQLite file database (the embedded default) with every table, whatever the session's
    database: these faults are SQLite's own."""
    yield from deployment_database(f"sqlite:///{tmp_path / 'cs_platform.db'}", tmp_path)
