"""The clock of the product: one place that decides what a job is and when it runs.

Jobs are declared as data (`JobSpec`) by each domain package in its `jobs.py`; its wiring
module hands them to the factory, which declares them on the app (`declare_jobs`). APScheduler
keeps them in the application database (SQLAlchemyJobStore). One process per database fires
them (`cs_platform/leadership.py`). Every run of a declared job is recorded in `job_runs`
(`cs_platform/job_runs.py`), and a run missed while no scheduler ran, cut short by a dying
leader, or failed, is made up once a leader is up (`catch_up_missed_runs`, at start and every
CATCH_UP_MINUTES). The scheduler's own loop outlives database errors: it logs them and tries
again. At start it removes every stored job that is no longer declared, except those whose id
begins with a prefix a domain owns (jobs that domain adds and removes itself at run time, like
survey campaigns).
"""

from __future__ import annotations

import atexit
import datetime as dt
import importlib
import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app
from sqlalchemy import String, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.pool import NullPool

from cs_platform import job_runs
from cs_platform.extensions import Model, db
from cs_platform.leadership import Leadership, acquire_leadership, try_leadership
from cs_platform.models import utcnow
from cs_platform.outbox_thread import start_delivery_thread
from cs_platform.setting_types import ConfigError

log = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"
HEARTBEAT_SECONDS = 10
# How often the leader checks that it still holds the lock, and a standby that it is free.
LOCK_CHECK_SECONDS = 1.0
STANDBY_POLL_SECONDS = 5.0
LEASE_SECONDS = 60
CATCH_UP_MINUTES = 10
# How soon the scheduler's loop tries again after a database error.
LOOP_RETRY_SECONDS = 10
TRIGGERS: dict[str, type[BaseTrigger]] = {
    "cron": CronTrigger,
    "interval": IntervalTrigger,
    "date": DateTrigger,
}
_state: dict[str, Any] = {}


class SchedulerLease(Model):
    """The active scheduler's heartbeat; /readyz checks that it is fresh."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    heartbeat_at: Mapped[dt.datetime]


@dataclass(frozen=True)
class JobSpec:
    """A recurring job: `func` is called in the app context with no arguments, or with `slot=`
    (the scheduled time, naive UTC) when `takes_slot`.

    `catch_up` (cron jobs only): "every" missed slot runs, "latest" only, or "none".
    """

    id: str
    func: Callable[..., Any]
    trigger: str
    trigger_args: dict[str, Any] = field(default_factory=dict)
    misfire_grace_time: int = 3600
    catch_up: Literal["every", "latest", "none"] = "latest"
    takes_slot: bool = False
    run_at_start: bool = False

    def build_trigger(self) -> BaseTrigger:
        return TRIGGERS[self.trigger](timezone=dt.UTC, **self.trigger_args)

    @property
    def catches_up(self) -> bool:
        return self.trigger == "cron" and self.catch_up != "none"


def heartbeat() -> None:
    """Renew the scheduler lease (a declared job of the scheduler itself)."""
    lease = db.session.get(SchedulerLease, "main") or SchedulerLease(name="main")
    lease.holder = _state.get("holder", "unknown")
    lease.heartbeat_at = utcnow()
    db.session.merge(lease)
    db.session.commit()


@dataclass(frozen=True)
class DeclaredJobs:
    """The jobs the domains declare, and the id prefixes of jobs a domain adds and removes
    itself at run time (never pruned as undeclared)."""

    specs: tuple[JobSpec, ...]
    owned_prefixes: tuple[str, ...] = ()


def declare_jobs(app: Flask, specs: Sequence[JobSpec], owned_prefixes: Sequence[str]) -> None:
    """What the factory calls with every domain's jobs; SCHEDULER_EXTRA_JOB_MODULES (module
    names in configuration, each with a JOBS list) add theirs."""
    extra = extra_jobs(app.config["SCHEDULER_EXTRA_JOB_MODULES"])
    app.extensions["declared_jobs"] = DeclaredJobs((*specs, *extra), tuple(owned_prefixes))


def extra_jobs(names: Sequence[str]) -> list[JobSpec]:
    """The JOBS lists of the modules named; ConfigError (start-up stops with one line) for a
    module that cannot be imported or declares no JOBS."""
    specs: list[JobSpec] = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            raise ConfigError(
                f"SCHEDULER_EXTRA_JOB_MODULES: cannot import {name!r} ({error})"
            ) from error
        if not isinstance(getattr(module, "JOBS", None), list):
            raise ConfigError(f"SCHEDULER_EXTRA_JOB_MODULES: {name!r} has no JOBS list")
        specs.extend(module.JOBS)
    return specs


def declared_jobs(app: Flask | None = None) -> list[JobSpec]:
    """Every job declared on `app` (default: the current app)."""
    return list((app or current_app).extensions["declared_jobs"].specs)


def resolve(func_path: str) -> Callable[..., Any]:
    module_name, _, attribute = func_path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def run_job(func_path: str, *args: Any) -> None:
    """What APScheduler stores and calls for run-time jobs (campaigns): `func_path(*args)` in
    the app context; logs failures."""
    app: Flask = _state["app"]
    with app.app_context():
        try:
            resolve(func_path)(*args)
        except Exception:
            log.exception("job failed", extra={"job": func_path})
            raise


def current_slot(spec: JobSpec, now: dt.datetime) -> dt.datetime:
    """The slot a firing of `spec` at `now` belongs to: a cron job's latest fire time (a late
    firing still counts for its slot), else now to the second."""
    if spec.trigger == "cron":
        slot = job_runs.latest_slot(spec.build_trigger(), now)
        if slot is not None:
            return slot
    return now.replace(microsecond=0)


def run_declared(job_id: str, slot: dt.datetime | None = None, caught_up: bool = False) -> None:
    """What APScheduler calls for a declared job (and catch-up, with the missed `slot`): run it
    in the app context, recorded in job_runs; a slot that already succeeded is not run again.
    Failures are logged and recorded, never raised into the scheduler."""
    app: Flask = _state["app"]
    spec: JobSpec = _state["specs"][job_id]
    with app.app_context():
        try:
            slot = slot or current_slot(spec, utcnow())
            if not job_runs.start_run(job_id, slot, _state["holder"], caught_up):
                log.info("job slot already done", extra={"job": job_id, "slot": str(slot)})
                return
            spec.func(**({"slot": slot} if spec.takes_slot else {}))
        except Exception as error:
            log.exception("job failed", extra={"job": job_id, "slot": str(slot)})
            record_finish(job_id, slot, error)
        else:
            record_finish(job_id, slot, None)
            if caught_up:
                log.info("missed run made up", extra={"job": job_id, "slot": str(slot)})


def record_finish(job_id: str, slot: dt.datetime | None, error: BaseException | None) -> None:
    """Record a run's outcome; a database that is down now only costs the record (logged)."""
    if slot is None:
        return
    try:
        job_runs.finish_run(job_id, slot, error)
    except DBAPIError:
        log.exception("cannot record the job's outcome", extra={"job": job_id})


def catch_up_missed_runs() -> None:
    """Run, oldest first, every slot of a declared cron job that was missed, interrupted or
    failed (rules in cs_platform/job_runs.py); each is logged and recorded like any run."""
    specs = [spec for spec in _state["specs"].values() if spec.catches_up]
    stored = job_runs.job_runs([spec.id for spec in specs])
    now = utcnow()
    for spec in specs:
        trigger = spec.build_trigger()
        run = stored.get(spec.id)
        if run is None:
            job_runs.note_first_seen(spec.id, job_runs.latest_slot(trigger, now))
            continue
        every = spec.catch_up == "every"
        missed = job_runs.slots_to_catch_up(run, trigger, every, now, _state["holder"])
        if missed:
            log.warning(
                "making up missed runs", extra={"job": spec.id, "slots": [str(s) for s in missed]}
            )
        for slot in missed:
            run_declared(spec.id, slot, caught_up=True)


class ResilientScheduler(BackgroundScheduler):
    """A BackgroundScheduler whose loop survives its job store's errors: APScheduler's own loop
    dies with its thread when the store cannot be written (SQLite "database is locked", a
    PostgreSQL restart), and no job runs again in that process."""

    def _process_jobs(self) -> float | None:
        try:
            return super()._process_jobs()
        except Exception:
            log.exception(
                "scheduler loop failed; trying again", extra={"retry_s": LOOP_RETRY_SECONDS}
            )
            return LOOP_RETRY_SECONDS


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """A scheduler whose job store is the application database."""
    # NullPool: the store's connections close when released, so a stopped scheduler leaves no
    # pooled PostgreSQL connection behind (a pooled one leaked past shutdown in the tests).
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    store = SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)
    return ResilientScheduler(
        jobstores={"default": store},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone="UTC",
        jobstore_retry_interval=LOOP_RETRY_SECONDS,
    )


def prune_undeclared_jobs(
    scheduler: BackgroundScheduler, specs: list[JobSpec], owned_prefixes: tuple[str, ...]
) -> None:
    """Remove every stored job that is neither declared nor owned (by its id prefix) by a domain:
    a job renamed or dropped in a release would otherwise fire under its old id forever."""
    declared = {spec.id for spec in specs}
    for job in scheduler.get_jobs():
        if job.id not in declared and not job.id.startswith(owned_prefixes):
            scheduler.remove_job(job.id)
            log.info("undeclared job removed", extra={"job": job.id})


def add_declared_jobs(scheduler: BackgroundScheduler, specs: list[JobSpec]) -> None:
    """Add (or replace) every declared job; catch-up, not the stored next run, makes up what
    was missed."""
    for spec in specs:
        start_now = {"next_run_time": dt.datetime.now(dt.UTC)} if spec.run_at_start else {}
        scheduler.add_job(
            run_declared,
            spec.build_trigger(),
            args=[spec.id],
            id=spec.id,
            name=spec.id,  # what APScheduler's log lines call it
            replace_existing=True,
            misfire_grace_time=spec.misfire_grace_time,
            **start_now,
        )


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """Start the scheduler with every declared job (the caller holds the leadership)."""
    _state["app"] = app
    _state.setdefault("holder", f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}")
    declared: DeclaredJobs = app.extensions["declared_jobs"]
    specs = list(declared.specs)
    _state["specs"] = {spec.id: spec for spec in specs}
    scheduler = build_scheduler(app)
    scheduler.start(paused=True)
    prune_undeclared_jobs(scheduler, specs, declared.owned_prefixes)
    add_declared_jobs(scheduler, specs)
    scheduler.resume()
    _state["scheduler"] = scheduler
    log.info("scheduler started", extra={"jobs": [job.id for job in scheduler.get_jobs()]})
    return scheduler


def running_scheduler() -> BackgroundScheduler | None:
    """The scheduler of this process, if one was started (for jobs added at run time)."""
    return _state.get("scheduler")


def start_scheduler_if_enabled(app: Flask) -> None:
    """SCHEDULER_ENABLED makes this process run the whole loop (the embedded default, `make
    run`): the jobs, and outbox delivery, so the mail that the jobs queue actually leaves.

    Only the process holding the database's scheduler lock does; another (a second gunicorn
    worker) waits on a thread and takes over when the holder dies."""
    if not app.config["SCHEDULER_ENABLED"]:
        return
    stop = threading.Event()
    _state["stop"] = stop
    atexit.register(stop_in_process_scheduler)
    with app.app_context():
        engine = db.engine
    thread = threading.Thread(
        target=lead_in_process, args=(app, engine, stop), name="scheduler-leader", daemon=True
    )
    _state["leader_thread"] = thread
    try:
        leadership = try_leadership(engine)
    except DBAPIError as error:  # the standby thread keeps trying
        log.warning("cannot reach the database for the scheduler lock", extra={"error": str(error)})
        leadership = None
    if leadership is not None:
        start_in_process(app)  # at once: the app's first request may already need it
    else:
        log.info("another process runs the scheduler; this one waits to take over")
    _state["leadership"] = leadership
    thread.start()


def start_in_process(app: Flask) -> None:
    start_scheduler(app)
    start_delivery_thread(app)


def lead_in_process(app: Flask, engine: Engine, stop: threading.Event) -> None:
    """The web process's leader thread: wait for the lock unless held already, lead until it is
    lost or the process stops, then shut the jobs down and give the lock back."""
    leadership = _state.get("leadership")
    if leadership is None:
        leadership = acquire_leadership(engine, STANDBY_POLL_SECONDS, stop)
        if leadership is None:
            return
        start_in_process(app)
    while not stop.wait(LOCK_CHECK_SECONDS):
        if not leadership.held():
            break
    scheduler = running_scheduler()
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=True)
    leadership.release()


def stop_in_process_scheduler() -> None:
    """Stop this web process's scheduler and give its lock back (at exit, and in tests)."""
    stop, thread = _state.pop("stop", None), _state.pop("leader_thread", None)
    if stop is not None:
        stop.set()
    if thread is not None and thread.is_alive():
        thread.join(timeout=30)
    scheduler = running_scheduler()
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=True)
    _state.pop("leadership", None)


def lead(app: Flask, leadership: Leadership, stop: threading.Event) -> None:
    """Run the jobs until asked to stop or until the lock is lost, then shut the jobs down."""
    scheduler = start_scheduler(app)
    log.info("scheduler is the leader", extra={"holder": _state["holder"]})
    while not stop.wait(LOCK_CHECK_SECONDS):
        if not leadership.held():
            break
    # Lets the running job finish before the lock is released; a job already running when the
    # lock was lost may overlap the new leader's first jobs (a slot that succeeded is skipped).
    scheduler.shutdown(wait=True)
    leadership.release()


def run_scheduler_process(app: Flask, poll_seconds: float = 5.0) -> None:
    """The dedicated scheduler process: become leader, run jobs, step down and wait for the lock
    again when it is lost, stop cleanly on SIGTERM/SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.is_set():
        with app.app_context():
            leadership = acquire_leadership(db.engine, poll_seconds, stop)
        if leadership is None:
            break
        lead(app, leadership, stop)
    log.info("scheduler stopped", extra={"holder": _state.get("holder")})


# The scheduler's own jobs (declared by the kernel's wiring).
JOBS = [
    JobSpec(
        "scheduler-heartbeat",
        heartbeat,
        "interval",
        {"seconds": HEARTBEAT_SECONDS},
        misfire_grace_time=HEARTBEAT_SECONDS,
    ),
    JobSpec(
        "scheduler-catch-up",
        catch_up_missed_runs,
        "interval",
        {"minutes": CATCH_UP_MINUTES},
        misfire_grace_time=CATCH_UP_MINUTES * 60,
        run_at_start=True,
    ),
]
