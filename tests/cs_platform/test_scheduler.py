"""The scheduler: declared jobs, running them in the app context, one leader on PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from cs_platform.extensions import db
from cs_platform.scheduler import (
    JOB_TABLE,
    acquire_leadership,
    declared_jobs,
    run_job,
    start_scheduler,
)

CALLS: list[str] = []


def record_call(label: str) -> None:
    CALLS.append(f"{label}:{db.engine.dialect.name}")


def test_every_declared_job_has_a_stable_unique_id():
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
    leader.close()
    successor = acquire_leadership(db.engine, 0.05, never)
    assert successor is not None
    successor.close()
