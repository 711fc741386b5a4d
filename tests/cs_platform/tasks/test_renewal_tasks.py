"""The renewal rule: one prep task per renewal, opened only inside the window before it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from cs_platform import clock
from cs_platform.demo.generator import generate_book
from cs_platform.extensions import db
from cs_platform.models import Account, Task
from cs_platform.tasks.jobs import JOBS, open_renewal_prep_tasks
from cs_platform.tasks.services import open_renewal_tasks
from tests.factories import AccountFactory

TODAY = clock.today()
pytestmark = pytest.mark.usefixtures("app")  # the database, emptied after each test


def renewing_in(days: int, **values) -> Account:
    return AccountFactory(renewal_date=TODAY + dt.timedelta(days=days), **values)


def renewal_tasks() -> list[Task]:
    db.session.expire_all()
    return list(db.session.scalars(select(Task).where(Task.kind == "renewal").order_by(Task.id)))


def test_a_renewal_inside_the_window_opens_one_task_due_sixty_days_before_it(make_user):
    owner = make_user("csm")
    account = renewing_in(80, owner=owner, segment="enterprise")
    open_renewal_tasks(TODAY, 90)
    db.session.commit()
    [task] = renewal_tasks()
    renewal = account.renewal_date
    assert task.account_id == account.id and task.owner_id == owner.id
    assert task.reason == f"renewal-{renewal.isoformat()}"
    assert task.due_date == renewal - dt.timedelta(days=60)
    assert (task.status, task.severity) == ("open", "high")
    assert f"Renewal on {renewal:%d %b %Y}" in task.title


def test_a_renewal_closer_than_sixty_days_is_due_today_not_overdue():
    renewing_in(20)
    open_renewal_tasks(TODAY, 90)
    assert [task.due_date for task in renewal_tasks()] == [TODAY]


def test_no_task_opens_outside_the_window_for_past_renewals_or_churned_accounts():
    renewing_in(91)
    renewing_in(-1)
    renewing_in(30, churned_at=TODAY - dt.timedelta(days=3), lifecycle_stage="churned")
    AccountFactory(renewal_date=None)
    assert open_renewal_tasks(TODAY, 90) == []
    assert renewal_tasks() == []


def test_a_second_run_opens_no_duplicate_even_after_the_task_was_done():
    renewing_in(45)
    open_renewal_tasks(TODAY, 90)
    assert open_renewal_tasks(TODAY, 90) == []
    [task] = renewal_tasks()
    task.status, task.outcome = "done", "saved"
    db.session.commit()
    assert open_renewal_tasks(TODAY + dt.timedelta(days=1), 90) == []
    assert len(renewal_tasks()) == 1


def test_next_years_renewal_opens_a_new_task():
    account = renewing_in(30)
    open_renewal_tasks(TODAY, 90)
    first = renewal_tasks()[0]
    first.status, first.outcome = "done", "saved"
    account.renewal_date += dt.timedelta(days=365)
    db.session.commit()
    next_year = account.renewal_date - dt.timedelta(days=80)
    opened = open_renewal_tasks(next_year, 90)
    assert [task.reason for task in opened] == [f"renewal-{account.renewal_date.isoformat()}"]
    assert len(renewal_tasks()) == 2


def test_the_daily_job_reads_the_window_from_the_configuration(app, monkeypatch):
    monkeypatch.setitem(app.config, "RENEWAL_TASK_DAYS", 30)
    renewing_in(20)
    renewing_in(60)
    open_renewal_prep_tasks()
    assert len(renewal_tasks()) == 1
    spec = next(spec for spec in JOBS if spec.id == "tasks-renewal-prep")
    assert spec.trigger == "cron" and spec.func is open_renewal_prep_tasks


def test_the_daily_job_defaults_to_a_ninety_day_window(app):
    assert app.config["RENEWAL_TASK_DAYS"] == 90
    renewing_in(85)
    renewing_in(95)
    open_renewal_prep_tasks()
    assert len(renewal_tasks()) == 1


@pytest.fixture(scope="module")
def demo_tasks() -> tuple[pd.DataFrame, pd.DataFrame, dt.date]:
    as_of = dt.date(2026, 3, 2)
    book = generate_book(600, seed=11, as_of=as_of)
    return book.tasks[book.tasks["kind"] == "renewal"], book.accounts, as_of


def test_the_demo_opens_renewal_tasks_only_inside_the_window_once_per_renewal(demo_tasks):
    tasks, accounts, as_of = demo_tasks
    renewal = tasks["account_id"].map(accounts.set_index("id")["renewal_date"])
    ahead = (renewal - pd.Timestamp(as_of)).dt.days
    assert ahead.between(0, 90).all()
    expected = "renewal-" + renewal.dt.strftime("%Y-%m-%d")
    assert (tasks["reason"] == expected).all()
    assert not tasks["account_id"].duplicated().any()


def test_the_demo_starts_with_no_renewal_task_overdue_by_more_than_a_week(demo_tasks):
    tasks, _, as_of = demo_tasks
    still_open = tasks[tasks["status"] == "open"]
    due = pd.to_datetime(still_open["due_date"])
    assert len(still_open) > 0
    assert (due >= pd.Timestamp(as_of) - pd.Timedelta(days=7)).all()
    assert np.isnat(tasks.loc[tasks["status"] == "open", "completed_at"].to_numpy()).all()
