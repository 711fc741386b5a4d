"""The clock of the product: one place that decides what a job is and when it runs.

Jobs are declared as data (`JobSpec`) by each domain package in its `jobs.py` and listed in
`JOB_MODULES`. APScheduler keeps them in the application database (SQLAlchemyJobStore), so schedules
survive restarts; a run missed during downtime fires once (coalesce), never twice at a time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import String, create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.pool import NullPool

from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.outbox_thread import start_delivery_thread

log = logging.getLogger(__name__)

# Domain modules that declare a JOBS list of JobSpec.
JOB_MODULES: list[str] = [
    "cs_platform.scheduler",
    "cs_platform.tasks.jobs",
    "surveys.jobs",
    "integrations.jobs",
    "scoring.jobs",
    "cs_platform.retention",
]
JOB_TABLE = "apscheduler_jobs"
# PostgreSQL advisory lock held by the one active scheduler process ("cs_sched" in ASCII).
LEADER_LOCK_KEY = 0x63735F7363686564
HEARTBEAT_SECONDS = 10
# How often the leader checks that its lock's database session is still alive.
LOCK_CHECK_SECONDS = 1.0
LEASE_SECONDS = 60
_state: dict[str, Any] = {}


class SchedulerLease(db.Model):
    """The active scheduler's heartbeat; /readyz checks that it is fresh."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    heartbeat_at: Mapped[dt.datetime]


@dataclass(frozen=True)
class JobSpec:
    """A recurring job: `func` is "module:function", called with no arguments in the app context."""

    id: str
    func: str
    trigger: str
    trigger_args: dict[str, Any] = field(default_factory=dict)
    misfire_grace_time: int = 3600


def heartbeat() -> None:
    """Renew the scheduler lease (a declared job of the scheduler itself)."""
    lease = db.session.get(SchedulerLease, "main") or SchedulerLease(name="main")
    lease.holder = _state.get("holder", "unknown")
    lease.heartbeat_at = utcnow()
    db.session.merge(lease)
    db.session.commit()


JOBS = [
    JobSpec(
        "scheduler-heartbeat",
        "cs_platform.scheduler:heartbeat",
        "interval",
        {"seconds": HEARTBEAT_SECONDS},
        misfire_grace_time=HEARTBEAT_SECONDS,
    ),
]


def declared_jobs(extra_modules: Sequence[str] = ()) -> list[JobSpec]:
    """Every job that the domain packages (and `extra_modules`, from configuration) declare."""
    modules = [*JOB_MODULES, *extra_modules]
    return [spec for name in modules for spec in importlib.import_module(name).JOBS]


def resolve(func_path: str) -> Callable[[], Any]:
    module_name, _, attribute = func_path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def run_job(func_path: str, *args: Any) -> None:
    """What APScheduler stores and calls: `func_path(*args)` in the app context; logs failures."""
    app: Flask = _state["app"]
    with app.app_context():
        try:
            resolve(func_path)(*args)
        except Exception:
            log.exception("job failed", extra={"job": func_path})
            raise


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """A scheduler whose job store is the application database."""
    # NullPool: the store's connections close when released, so a stopped scheduler leaves no
    # pooled PostgreSQL connection behind (a pooled one leaked past shutdown in the tests).
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    store = SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)
    return BackgroundScheduler(
        jobstores={"default": store},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone="UTC",
    )


def add_declared_jobs(scheduler: BackgroundScheduler, specs: list[JobSpec]) -> None:
    for spec in specs:
        scheduler.add_job(
            run_job,
            spec.trigger,
            args=[spec.func],
            id=spec.id,
            replace_existing=True,
            misfire_grace_time=spec.misfire_grace_time,
            **spec.trigger_args,
        )


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """Start the in-process scheduler with every declared job."""
    _state["app"] = app
    _state.setdefault("holder", f"{socket.gethostname()}:{os.getpid()}")
    scheduler = build_scheduler(app)
    scheduler.start(paused=True)
    add_declared_jobs(scheduler, declared_jobs(app.config["SCHEDULER_EXTRA_JOB_MODULES"]))
    scheduler.resume()
    _state["scheduler"] = scheduler
    log.info("scheduler started", extra={"jobs": [job.id for job in scheduler.get_jobs()]})
    return scheduler


def running_scheduler() -> BackgroundScheduler | None:
    """The scheduler of this process, if one was started (for jobs added at run time)."""
    return _state.get("scheduler")


def start_scheduler_if_enabled(app: Flask) -> None:
    """SCHEDULER_ENABLED makes this process run the whole loop (the embedded default, `make
    run`): the jobs, and outbox delivery, so the mail that the jobs queue actually leaves."""
    if app.config["SCHEDULER_ENABLED"]:
        start_scheduler(app)
        start_delivery_thread(app)


def acquire_leadership(
    engine: Engine, poll_seconds: float, stop: threading.Event
) -> Connection | None:
    """Wait until this process holds the scheduler lock; return the connection that holds it.

    On PostgreSQL a session advisory lock guards the scheduler: a second scheduler process waits
    here and takes over as soon as the first one's connection dies. SQLite runs one process only.
    While the database is unreachable (a restart) this keeps trying instead of exiting.
    """
    if engine.dialect.name != "postgresql":
        return None
    # A connection of its own, outside the pool: closing it must end the session and the lock.
    lock_engine = create_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    query = text("SELECT pg_try_advisory_lock(:key)")
    connection: Connection | None = None
    while not stop.is_set():
        try:
            connection = connection or lock_engine.connect()
            if connection.execute(query, {"key": LEADER_LOCK_KEY}).scalar():
                return connection
            log.info("another scheduler is active; waiting", extra={"poll_seconds": poll_seconds})
        except DBAPIError as error:
            log.warning(
                "cannot reach the database for the scheduler lock", extra={"error": str(error)}
            )
            discard(connection)
            connection = None
        stop.wait(poll_seconds)
    discard(connection)
    return None


def holds_lock(lock: Connection) -> bool:
    """Whether the session holding the advisory lock is still alive (so the lock still held).

    `lock.closed` only turns true after a local close: when the server ends the session (a
    PostgreSQL restart, pg_terminate_backend, a dropped network), only a query notices.
    """
    if lock.closed:
        return False
    try:
        lock.execute(text("SELECT 1"))
    except DBAPIError as error:
        log.error("scheduler lock lost; stepping down", extra={"error": str(error)})
        return False
    return True


def discard(connection: Connection | None) -> None:
    """Close a lock connection, dead or alive: closing a dead one may raise, and it no longer
    matters."""
    if connection is not None:
        with contextlib.suppress(DBAPIError):
            connection.close()


def lead(app: Flask, lock: Connection | None, stop: threading.Event) -> None:
    """Run the jobs until asked to stop or until the lock is lost, then shut the jobs down."""
    scheduler = start_scheduler(app)
    log.info("scheduler is the leader", extra={"holder": _state["holder"]})
    while not stop.wait(LOCK_CHECK_SECONDS):
        if lock is not None and not holds_lock(lock):
            break
    # Lets the running job finish before the lock is released; a job already running when the
    # lock was lost may overlap the new leader's first jobs (they are idempotent per slot).
    scheduler.shutdown(wait=True)
    discard(lock)


def run_scheduler_process(app: Flask, poll_seconds: float = 5.0) -> None:
    """The dedicated scheduler process: become leader, run jobs, step down and wait for the lock
    again when it is lost, stop cleanly on SIGTERM/SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.is_set():
        with app.app_context():
            lock = acquire_leadership(db.engine, poll_seconds, stop)
        if stop.is_set():
            break
        lead(app, lock, stop)
    log.info("scheduler stopped", extra={"holder": _state.get("holder")})
