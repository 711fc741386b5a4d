"""Campaign schedules in APScheduler's persistent job store: restarts, coalescing, sync."""

from __future__ import annotations

import datetime as dt
import pickle
import threading

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from sqlalchemy import func, select, text

from cs_platform import scheduler as clock
from cs_platform.extensions import db
from surveys.jobs import JOB_PREFIX, run_event_campaigns, sync_campaign_jobs
from surveys.models import Invitation
from tests.factories import CampaignFactory, ContactFactory


def move_next_run(job_id: str, when: dt.datetime) -> None:
    """Edit the stored job as the passing of time would have left it."""
    table = text(f"SELECT job_state FROM {clock.JOB_TABLE} WHERE id = :id")
    state = pickle.loads(db.session.execute(table, {"id": job_id}).scalar_one())  # noqa: S301 - our own row
    state["next_run_time"] = when
    db.session.execute(
        text(
            f"UPDATE {clock.JOB_TABLE} SET job_state = :state, next_run_time = :at WHERE id = :id"
        ),
        {"state": pickle.dumps(state), "at": when.timestamp(), "id": job_id},
    )
    db.session.commit()


def test_a_restart_after_missing_two_runs_runs_the_campaign_once(app):
    ContactFactory.create_batch(3)
    campaign = CampaignFactory(cron="0 * * * *")  # hourly
    clock._state["app"] = app
    first = clock.build_scheduler(app)
    first.start(paused=True)
    sync_campaign_jobs(first)
    job_id = f"{JOB_PREFIX}{campaign.id}"
    first.shutdown(wait=True)
    # While it was down, the clock moved past two hourly runs.
    move_next_run(job_id, dt.datetime.now(dt.UTC) - dt.timedelta(hours=2, minutes=30))

    runs: list[object] = []
    done = threading.Event()

    def record(event) -> None:
        if event.job_id == job_id:
            runs.append(event)
            done.set()

    second = clock.build_scheduler(app)
    second.add_listener(record, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    second.start()
    try:
        assert done.wait(15), "the missed run never fired"
        threading.Event().wait(1.5)  # room for a (wrong) second run to show up
        next_run = second.get_job(job_id).next_run_time
    finally:
        second.remove_all_jobs()  # the job store is not one of the tables emptied after a test
        second.shutdown(wait=True)
    assert len(runs) == 1 and runs[0].exception is None
    assert next_run > dt.datetime.now(dt.UTC)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 3


def test_sync_adds_changes_and_removes_campaign_jobs(app):
    ContactFactory()
    hourly = CampaignFactory(cron="0 * * * *")
    paused = CampaignFactory(cron="0 * * * *", status="paused")
    scheduler = clock.build_scheduler(app)
    scheduler.start(paused=True)
    try:
        sync_campaign_jobs(scheduler)
        assert {job.id for job in scheduler.get_jobs()} == {f"{JOB_PREFIX}{hourly.id}"}
        job = scheduler.get_job(f"{JOB_PREFIX}{hourly.id}")
        kept = job.next_run_time
        sync_campaign_jobs(scheduler)  # unchanged: the due time is kept
        assert scheduler.get_job(job.id).next_run_time == kept
        hourly.cron = "30 6 * * *"
        paused.status = "active"
        db.session.commit()
        sync_campaign_jobs(scheduler)
        assert scheduler.get_job(job.id).name == "cron 30 6 * * * UTC"
        assert scheduler.get_job(f"{JOB_PREFIX}{paused.id}") is not None
        hourly.status = "paused"
        db.session.commit()
        sync_campaign_jobs(scheduler)
        assert scheduler.get_job(job.id) is None
    finally:
        scheduler.remove_all_jobs()
        scheduler.shutdown(wait=False)


def test_the_event_job_plans_only_event_campaigns(app):
    ContactFactory()
    CampaignFactory()  # recurring: left to its own job
    run_event_campaigns()
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0
