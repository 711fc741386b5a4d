"""Risk flags: one open task per account and reason, none while a twin is open or snoozed."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import Task
from scoring.risk_flags import FlagThresholds, driver_details, raise_risk_flags
from tests.factories import AccountFactory, HealthScoreFactory

TODAY = dt.date(2026, 6, 1)
THRESHOLDS = FlagThresholds(p_before_renewal=0.5, p_90d=0.3, drop_points=15, relative_90d=3)
DRIVERS = [
    {"feature": "open_tickets", "value": 9, "contribution": 1.0, "sentence": "9 open tickets"}
]


@pytest.fixture
def account(app, make_user):
    owner = make_user("csm")
    return AccountFactory(owner_id=owner.id)


def scored(account, score=55.0, p_renewal=0.6, p_90d=0.1):
    frame = pd.DataFrame({"account_id": [account.id], "owner_id": [account.owner_id]})
    scores = pd.DataFrame({"score": [score], "details": driver_details(pd.Series([DRIVERS]))})
    risks = pd.DataFrame({"p_churn_before_renewal": [p_renewal], "p_churn_90d": [p_90d]})
    return frame, scores, risks


def tasks() -> list[Task]:
    return list(db.session.scalars(select(Task).order_by(Task.id)))


def test_a_risk_over_the_threshold_opens_one_task_for_the_owner_with_the_drivers(account):
    assert raise_risk_flags(TODAY, *scored(account), THRESHOLDS) == 1
    assert raise_risk_flags(TODAY, *scored(account), THRESHOLDS) == 0
    db.session.commit()
    [task] = tasks()
    assert (task.kind, task.reason, task.owner_id) == (
        "churn_risk",
        "p_churn_before_renewal",
        account.owner_id,
    )
    assert task.title == "Churn risk 60% before renewal"
    assert task.details == "9 open tickets"


def test_a_snoozed_task_is_not_raised_again_until_its_snooze_ends(account):
    raise_risk_flags(TODAY, *scored(account), THRESHOLDS)
    [task] = tasks()
    task.status, task.snoozed_until = "snoozed", TODAY + dt.timedelta(days=10)
    db.session.commit()
    assert raise_risk_flags(TODAY + dt.timedelta(days=1), *scored(account), THRESHOLDS) == 0
    task.status = "done"
    db.session.commit()
    assert raise_risk_flags(TODAY + dt.timedelta(days=2), *scored(account), THRESHOLDS) == 1


def test_a_fast_health_drop_opens_a_health_drop_task(account):
    HealthScoreFactory(account=account, scored_on=TODAY - dt.timedelta(days=20), score=80.0)
    frame, scores, _ = scored(account, score=60.0)
    assert raise_risk_flags(TODAY, frame, scores, None, THRESHOLDS) == 1
    [task] = tasks()
    assert (task.kind, task.reason, task.title) == (
        "health_drop",
        "health_drop",
        "Health down 20 points in 30 days",
    )


def test_risks_under_the_thresholds_raise_nothing(account):
    HealthScoreFactory(account=account, scored_on=TODAY - dt.timedelta(days=40), score=95.0)
    assert raise_risk_flags(TODAY, *scored(account, p_renewal=0.2), THRESHOLDS) == 0


def test_a_risk_far_above_the_books_average_is_flagged_though_under_the_threshold(app):
    accounts = AccountFactory.create_batch(11)
    p_90d = [0.01] * 10 + [0.06]
    frame = pd.DataFrame({"account_id": [a.id for a in accounts], "owner_id": [None] * 11})
    scores = pd.DataFrame({"score": [90.0] * 11, "details": ["9 open tickets"] * 11})
    risks = pd.DataFrame({"p_churn_before_renewal": [0.05] * 11, "p_churn_90d": p_90d})

    assert raise_risk_flags(TODAY, frame, scores, risks, THRESHOLDS) == 1
    [task] = tasks()
    assert (task.account_id, task.reason, task.severity) == (
        accounts[-1].id,
        "relative_90d",
        "medium",
    )
    assert task.title == "Churn risk 6.0% within 90 days, 4.1× the book's average"
    off = FlagThresholds(p_before_renewal=0.5, p_90d=0.3, drop_points=15, relative_90d=0)
    db.session.delete(task)
    assert raise_risk_flags(TODAY, frame, scores, risks, off) == 0
