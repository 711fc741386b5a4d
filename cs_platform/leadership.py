"""Which process runs the scheduler: exactly one per database, whatever the database.

PostgreSQL: a session advisory lock, held by a connection of its own; a second process waits and
takes over when the first one's session ends (its process died, the server restarted it).
SQLite (the embedded default): an exclusive `flock` on a file beside the database, which the
kernel releases when the holding process dies, so `gunicorn --workers 2` still fires each job
once. An in-memory SQLite database lives in one process only and needs no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# PostgreSQL advisory lock held by the one active scheduler process ("cs_sched" in ASCII).
LEADER_LOCK_KEY = 0x63735F7363686564
LOCK_FILE_SUFFIX = ".scheduler-lock"
LOCK_QUERY = text("SELECT pg_try_advisory_lock(:key)")


class Leadership(Protocol):
    """A held scheduler lock."""

    def held(self) -> bool:
        """Whether this process still holds it."""

    def release(self) -> None:
        """Give it up (idempotent)."""


class AdvisoryLock:
    """The PostgreSQL advisory lock, held by `connection`'s server session."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def held(self) -> bool:
        """`closed` only turns true after a local close: when the server ends the session (a
        restart, pg_terminate_backend, a dropped network), only a query notices."""
        if self.connection.closed:
            return False
        try:
            self.connection.execute(text("SELECT 1"))
        except DBAPIError as error:
            log.error("scheduler lock lost; stepping down", extra={"error": str(error)})
            return False
        return True

    def release(self) -> None:
        discard(self.connection)


class FileLock:
    """An exclusive flock on a file; the kernel drops it with the process."""

    def __init__(self, descriptor: int | None) -> None:
        self.descriptor = descriptor

    def held(self) -> bool:
        return True  # nothing but this process's end or release() can take a flock away

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)  # closing the descriptor releases the lock
            self.descriptor = None


def lock_file_of(engine: Engine) -> Path | None:
    """The lock file of a SQLite database file; None for an in-memory database."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database + LOCK_FILE_SUFFIX)


def try_file_lock(path: Path | None) -> FileLock | None:
    """The lock on `path` if no other process holds it, else None."""
    if path is None:
        return FileLock(None)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return FileLock(descriptor)


def try_leadership(engine: Engine) -> Leadership | None:
    """The scheduler lock of `engine`'s database if no other process holds it, else None;
    raises DBAPIError while PostgreSQL is unreachable."""
    if engine.dialect.name != "postgresql":
        return try_file_lock(lock_file_of(engine))
    # A connection of its own, outside the pool: closing it must end the session and the lock.
    lock_engine = create_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    connection = lock_engine.connect()
    try:
        if connection.execute(LOCK_QUERY, {"key": LEADER_LOCK_KEY}).scalar():
            return AdvisoryLock(connection)
    except DBAPIError:
        discard(connection)
        raise
    discard(connection)
    return None


def acquire_leadership(
    engine: Engine, poll_seconds: float, stop: threading.Event
) -> Leadership | None:
    """Wait until this process holds the scheduler lock of `engine`'s database; None if `stop`
    was set first. While the database is unreachable (a restart) this keeps trying."""
    waiting_logged = False
    while not stop.is_set():
        try:
            lock = try_leadership(engine)
        except DBAPIError as error:
            log.warning(
                "cannot reach the database for the scheduler lock", extra={"error": str(error)}
            )
        else:
            if lock is not None:
                return lock
            if not waiting_logged:
                log.info("another process runs the scheduler; waiting")
                waiting_logged = True
        stop.wait(poll_seconds)
    return None


def discard(connection: Connection | None) -> None:
    """Close a lock connection, dead or alive: closing a dead one may raise, and it no longer
    matters."""
    if connection is not None:
        with contextlib.suppress(DBAPIError):
            connection.close()
