"""The scheduled-jobs page: admins see each job's schedule in words, its latest run and outcome,
its next run, and whether a scheduler is alive; nobody else may see it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, inspect, table

from cs_platform.admin.jobs import describe_schedule
from cs_platform.extensions import db
from cs_platform.job_runs import JobRun
from cs_platform.models import utcnow
from cs_platform.scheduler import JOB_TABLE, SchedulerLease, declared_jobs, start_scheduler

NIGHT = dt.datetime(2026, 12, 3, 2, 15)


@pytest.fixture
def admin_client(make_user, login):
    return login(make_user("admin", name="Ada Admin"))


def spec_of(job_id: str):
    return next(spec for spec in declared_jobs() if spec.id == job_id)


def test_schedules_read_as_words(app):
    assert describe_schedule(spec_of("scoring-nightly")) == "daily at 02:15 UTC"
    assert describe_schedule(spec_of("scoring-weekly-retrain")) == "Sundays at 03:30 UTC"
    assert describe_schedule(spec_of("scheduler-catch-up")) == "every 10 minutes"
    assert describe_schedule(spec_of("surveys-reminders")) == "every hour"


def test_without_a_scheduler_the_page_says_so_and_lists_every_job(admin_client):
    if inspect(db.engine).has_table(JOB_TABLE):  # APScheduler's table outlives other tests
        db.session.execute(delete(table(JOB_TABLE)))
        db.session.commit()
    page = admin_client.get("/admin/jobs").text
    assert "No scheduler has run yet" in page
    for spec in declared_jobs():
        assert spec.id in page
    assert "when a scheduler starts" in page


def test_the_page_shows_made_up_and_failed_runs_with_their_escaped_error(admin_client):
    db.session.add_all(
        [
            SchedulerLease(name="main", holder="web-1:4242:beef", heartbeat_at=utcnow()),
            JobRun(job_id="scoring-nightly", slot=NIGHT, outcome="succeeded", attempts=1,
                   caught_up=True, started_at=utcnow() - dt.timedelta(seconds=42),
                   finished_at=utcnow()),
            JobRun(job_id="retention-purge", slot=NIGHT, outcome="failed", attempts=2,
                   error="OperationalError: <b>database is locked</b>", started_at=utcnow(),
                   finished_at=utcnow()),
        ]
    )  # fmt: skip
    db.session.commit()
    page = admin_client.get("/admin/jobs").text
    assert "The scheduler is running on <code>web-1:4242:beef</code>" in page
    assert "2026-12-03 02:15" in page and "made up" in page and "42.0 s" in page
    assert "failed" in page and "2 attempts" in page
    assert "&lt;b&gt;database is locked&lt;/b&gt;" in page


def test_a_stale_heartbeat_warns_that_no_scheduler_runs(admin_client):
    stale = utcnow() - dt.timedelta(minutes=5)
    db.session.add(SchedulerLease(name="main", holder="web-1:4242:beef", heartbeat_at=stale))
    db.session.commit()
    assert "No scheduler is running" in admin_client.get("/admin/jobs").text


def test_next_runs_come_from_the_scheduler_s_job_store(app, admin_client):
    start_scheduler(app).shutdown(wait=True)
    page = admin_client.get("/admin/jobs").text
    tomorrow_or_today = {(utcnow() + dt.timedelta(days=d)).strftime("%Y-%m-%d") for d in (0, 1)}
    row = page[page.index("scoring-nightly") :].split("</tr>")[0]
    assert any(f"{day} 02:15" in row for day in tomorrow_or_today)


@pytest.mark.parametrize("role", ["csm", "viewer"])
def test_only_admins_see_the_jobs(make_user, login, role):
    assert login(make_user(role)).get("/admin/jobs").status_code == 403
