"""The scheduler: declared jobs, running them in the app context, one leader per database,
catch-up of missed nights, a loop that outlives database errors."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from cs_platform import create_app
from cs_platform import scheduler as scheduler_module
from cs_platform.extensions import db
from cs_platform.job_runs import JobRun, latest_slot
from cs_platform.leadership import acquire_leadership, try_leadership
from cs_platform.models import utcnow
from cs_platform.scheduler import JOB_TABLE, declared_jobs, run_job, start_scheduler
from cs_platform.setting_types import ConfigError
from scoring.models import HealthScore
from surveys.jobs import JOB_PREFIX as CAMPAIGN_JOB_PREFIX
from tests.factories import AccountFactory

CALLS: list[str] = []


def record_call(label: str) -> None:
    CALLS.append(f"{label}:{db.engine.dialect.name}")


def test_every_declared_job_has_a_stable_unique_id(app):
    ids = [spec.id for spec in declared_jobs()]
    assert "scheduler-heartbeat" in ids
    assert len(ids) == len(set(ids))


def test_a_job_runs_inside_the_app_context(app):
    start_scheduler(app).shutdown(wait=True)
    CALLS.clear()
    run_job(f"{__name__}:record_call", "nightly")
    assert [f"nightly:{db.engine.dialect.name}"] == CALLS


def test_declared_jobs_are_kept_in_the_database_job_store(app):
    scheduler = start_scheduler(app)
    scheduler.shutdown(wait=True)
    stored = db.session.scalars(text(f"SELECT id FROM {JOB_TABLE}")).all()
    assert "scheduler-heartbeat" in stored


def test_only_one_scheduler_leads_and_a_waiting_one_takes_over(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("leader election uses PostgreSQL advisory locks; SQLite runs one process")
    never = threading.Event()
    leader = acquire_leadership(db.engine, 0.05, never)
    assert leader is not None
    gave_up = threading.Event()
    threading.Timer(0.3, gave_up.set).start()
    assert acquire_leadership(db.engine, 0.05, gave_up) is None
    leader.release()
    successor = acquire_leadership(db.engine, 0.05, never)
    assert successor is not None
    successor.release()


def test_one_process_at_a_time_holds_a_sqlite_database_s_scheduler_lock(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    first = try_leadership(engine)
    assert first is not None and first.held()
    assert try_leadership(engine) is None  # another descriptor: what a second process would get
    first.release()
    successor = try_leadership(engine)
    assert successor is not None
    successor.release()
    in_memory = create_engine("sqlite://")
    assert try_leadership(in_memory) is not None  # one process by definition


def wait_until(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def nightly_run() -> JobRun | None:
    db.session.expire_all()
    return db.session.get(JobRun, "scoring-nightly")


def test_a_scheduler_started_after_missed_nights_scores_each_as_of_its_own_day(app):
    AccountFactory.create_batch(3)
    spec = next(spec for spec in declared_jobs() if spec.id == "scoring-nightly")
    tonight = latest_slot(spec.build_trigger(), utcnow())
    db.session.add(JobRun(job_id=spec.id, slot=tonight - dt.timedelta(days=2), outcome="succeeded"))
    db.session.commit()

    scheduler = start_scheduler(app)
    try:
        wait_until(lambda: nightly_run().slot == tonight and nightly_run().outcome != "running")
    finally:
        scheduler.shutdown(wait=True)

    run = nightly_run()
    assert (run.outcome, run.caught_up, run.attempts) == ("succeeded", True, 1)
    days = set(db.session.scalars(select(HealthScore.scored_on)))
    assert days == {tonight.date() - dt.timedelta(days=1), tonight.date()}
    first_seen = db.session.get(JobRun, "retention-purge")
    assert first_seen.outcome == "first_seen"  # no history: nothing to make up


def test_a_scheduler_started_again_does_not_repeat_a_night_that_succeeded(app):
    spec = next(spec for spec in declared_jobs() if spec.id == "scoring-nightly")
    tonight = latest_slot(spec.build_trigger(), utcnow())
    db.session.add(JobRun(job_id=spec.id, slot=tonight, outcome="succeeded", attempts=1))
    db.session.commit()
    scheduler = start_scheduler(app)
    wait_until(lambda: db.session.get(JobRun, "scheduler-catch-up") is not None)
    scheduler.shutdown(wait=True)
    assert nightly_run().attempts == 1
    assert db.session.scalar(select(func.count()).select_from(HealthScore)) == 0


def test_the_scheduler_loop_outlives_a_job_store_error(app, monkeypatch):
    monkeypatch.setattr(scheduler_module, "LOOP_RETRY_SECONDS", 0.2)
    scheduler = start_scheduler(app)
    store = scheduler._lookup_jobstore("default")
    update_job, failures = store.update_job, []

    def locked_once(job):
        if not failures:
            failures.append(job.id)
            raise OperationalError("UPDATE apscheduler_jobs", {}, Exception("database is locked"))
        return update_job(job)

    monkeypatch.setattr(store, "update_job", locked_once)
    CALLS.clear()
    scheduler.add_job(run_job, "interval", seconds=1, args=[f"{__name__}:record_call", "tick"])
    try:
        wait_until(lambda: failures and len(CALLS) >= 3, 30)
        assert scheduler._thread.is_alive()
    finally:
        scheduler.shutdown(wait=True)


def store_jobs(app, job_ids: list[str]) -> None:
    """Leave jobs in the database job store, as an earlier release's scheduler would have."""
    earlier = scheduler_module.build_scheduler(app)
    earlier.start(paused=True)
    for job_id in job_ids:
        args = [f"{__name__}:record_call", job_id]
        earlier.add_job(run_job, "interval", hours=1, args=args, id=job_id, replace_existing=True)
    earlier.shutdown(wait=True)


def test_a_stored_job_no_longer_declared_is_removed_at_start(app, caplog):
    campaign_job = f"{CAMPAIGN_JOB_PREFIX}42"
    store_jobs(app, ["scoring-nightly-old-name", campaign_job, "scheduler-heartbeat"])
    caplog.set_level(logging.INFO, logger=scheduler_module.__name__)
    scheduler = start_scheduler(app)
    try:
        stored = {job.id for job in scheduler.get_jobs()}
        scheduler.remove_job(campaign_job)
    finally:
        scheduler.shutdown(wait=True)
    assert "scoring-nightly-old-name" not in stored
    assert campaign_job in stored  # the surveys domain keeps its campaign jobs itself
    assert {spec.id for spec in declared_jobs()} <= stored
    removed = [r.job for r in caplog.records if r.getMessage() == "undeclared job removed"]
    assert "scoring-nightly-old-name" in removed
    assert campaign_job not in removed and "scheduler-heartbeat" not in removed


@pytest.mark.parametrize(
    ("module", "says"),
    [("nope.jobs", "cannot import 'nope.jobs'"), ("cs_platform.clock", "has no JOBS list")],
)
def test_an_extra_job_module_that_cannot_serve_stops_start_up_naming_the_setting(app, module, says):
    with pytest.raises(ConfigError, match=f"SCHEDULER_EXTRA_JOB_MODULES: .*{says}"):
        create_app({**app.config, "SCHEDULER_EXTRA_JOB_MODULES": [module]})


def test_an_extra_job_module_adds_its_jobs_to_the_declared_ones(app):
    extra = create_app(
        {**app.config, "SCHEDULER_EXTRA_JOB_MODULES": ["tests.cs_platform.extra_jobs"]}
    )

    ids = {spec.id for spec in declared_jobs(extra)}
    assert "extra-test-job" in ids
    assert {spec.id for spec in declared_jobs(app)} < ids
