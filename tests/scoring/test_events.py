"""Which score changes and risk flags become events, and the nightly run producing exactly one
delivery per endpoint."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import insert, select

from cs_platform.extensions import db
from cs_platform.models import Account, Task
from cs_platform.webhooks.models import WebhookDelivery
from integrations.models import SupportTicket, UsageDaily
from scoring.events import (
    ScorePoint,
    health_score_changed,
    health_score_changes,
    publish_health_score_changes,
    publish_risk_flags,
)
from scoring.models import ChurnRisk, HealthScore
from scoring.runs import score_accounts
from tests.cs_platform.webhooks.conftest import run_outbox
from tests.factories import (
    AccountFactory,
    ChurnRiskFactory,
    ContactFactory,
    HealthScoreFactory,
    SurveyResponseFactory,
    TaskFactory,
)

DAY = dt.date(2026, 6, 1)


def with_activity(account: Account) -> Account:
    """Usage, a ticket, a contact and an answer, so every feature of the scorecard has data."""
    contact = ContactFactory(account=account)
    SurveyResponseFactory(account=account, contact=contact, responded_at=dt.datetime(2026, 5, 1))
    for days in range(1, 60, 3):
        db.session.add(
            UsageDaily(
                account_id=account.id,
                day=DAY - dt.timedelta(days=days),
                active_users=12,
                events=400,
                features_used=5,
            )
        )
    db.session.add(
        SupportTicket(
            account_id=account.id,
            source="demo",
            external_id="t-1",
            status="open",
            priority="high",
            created_at=dt.datetime(2026, 5, 20),
            updated_at=dt.datetime(2026, 5, 20),
        )
    )
    db.session.commit()
    return account


@pytest.mark.parametrize(
    ("before", "after", "changed"),
    [
        (None, ScorePoint(50, "yellow"), False),
        (ScorePoint(50, "yellow"), ScorePoint(58, "yellow"), False),
        (ScorePoint(50, "yellow"), ScorePoint(60, "yellow"), False),
        (ScorePoint(50, "yellow"), ScorePoint(60.5, "yellow"), True),
        (ScorePoint(50, "yellow"), ScorePoint(38.5, "yellow"), True),
        (ScorePoint(71, "green"), ScorePoint(69, "yellow"), True),
    ],
)
def test_a_change_is_a_band_change_or_a_move_of_more_than_n_points(before, after, changed):
    assert health_score_changed(before, after, points=10) is changed


def test_only_accounts_whose_score_changed_enough_get_an_event(receiver, subscribe):
    subscribe(receiver)
    steady, falling, first = AccountFactory(), AccountFactory(), AccountFactory()
    for account, before, after in ((steady, 75, 72), (falling, 75, 45)):
        HealthScoreFactory(account=account, scored_on=DAY - dt.timedelta(days=1), score=before)
        HealthScoreFactory(account=account, scored_on=DAY, score=after)
    HealthScoreFactory(account=first, scored_on=DAY, score=20)
    assert publish_health_score_changes(health_score_changes(DAY)) == 1
    assert (
        publish_health_score_changes(health_score_changes(DAY)) == 0
    )  # a re-run of the day queues nothing new
    db.session.commit()
    run_outbox()
    [item] = receiver.verified
    data = item["payload"]["data"]
    assert (data["account_id"], data["previous_band"], data["band"]) == (
        falling.id,
        "green",
        "yellow",
    )
    assert (data["previous_score"], data["score"]) == (75.0, 45.0)


def test_a_score_change_in_a_nightly_run_gives_one_delivery_per_subscribed_endpoint(
    receiver, subscribe
):
    first_endpoint = subscribe(receiver)
    second_endpoint = subscribe(receiver)
    subscribe(receiver, ["task.created"])
    account = with_activity(AccountFactory())
    score_accounts(DAY - dt.timedelta(days=1))
    db.session.commit()
    yesterday = db.session.scalar(select(HealthScore).where(HealthScore.account_id == account.id))
    yesterday.score = 100.0 if yesterday.score < 50 else 0.0
    yesterday.band = "green" if yesterday.score == 100.0 else "red"
    db.session.commit()
    score_accounts(DAY)
    db.session.commit()
    score_accounts(DAY)  # the nightly job running twice must not send twice
    db.session.commit()
    run_outbox()
    rows = db.session.scalars(select(WebhookDelivery)).all()
    assert sorted(row.endpoint_id for row in rows) == [first_endpoint.id, second_endpoint.id]
    assert all(row.event_type == "health_score.changed" for row in rows)
    assert len(receiver.verified) == 2
    assert len({item["id"] for item in receiver.verified}) == 1


def test_risk_flag_tasks_announce_task_created_and_churn_risk_flagged(receiver, subscribe):
    subscribe(receiver, ["task.created", "churn_risk.flagged"])
    account = AccountFactory()
    ChurnRiskFactory(account=account, scored_on=DAY, p_churn_90d=0.6)
    flagged_at = dt.datetime(2026, 6, 1, 2, 0)
    task = TaskFactory(
        account=account, kind="churn_risk", reason="p_churn_90d", created_at=flagged_at
    )
    TaskFactory(kind="detractor", reason="detractor", created_at=flagged_at)
    assert publish_risk_flags(DAY, flagged_at) == 2
    db.session.commit()
    run_outbox()
    events = {item["payload"]["type"]: item["payload"]["data"] for item in receiver.verified}
    assert events["task.created"]["id"] == task.id
    assert events["churn_risk.flagged"]["p_churn_90d"] == 0.6
    assert events["churn_risk.flagged"]["task_id"] == task.id


def test_a_churn_risk_task_without_that_days_risk_figures_announces_them_as_null(
    receiver, subscribe
):
    subscribe(receiver, ["churn_risk.flagged"])
    flagged_at = dt.datetime(2026, 6, 1, 2, 0)
    TaskFactory(kind="churn_risk", reason="p_churn_90d", created_at=flagged_at)
    assert publish_risk_flags(DAY, flagged_at) == 1
    db.session.commit()
    run_outbox()
    [event] = [item["payload"]["data"] for item in receiver.verified]
    assert event["p_churn_90d"] is None and event["expected_remaining_months"] is None


def test_a_night_flagging_more_accounts_than_a_statement_binds_announces_every_flag(
    receiver, subscribe
):
    endpoint = subscribe(receiver, ["churn_risk.flagged"])
    flagged_at, count = dt.datetime(2026, 6, 1, 2, 0), 70_000  # PostgreSQL binds 65,535 at most
    ids = range(1, count + 1)
    account = {"segment": "smb", "plan": "growth", "created_at": DAY, "updated_at": DAY}
    risk = {"scored_on": DAY, "p_churn_before_renewal": 0.5, "updated_at": DAY}
    task = {"kind": "churn_risk", "severity": "high", "title": "Churn risk", "details": "",
            "reason": "p_churn_90d", "status": "open", "created_at": flagged_at}  # fmt: skip
    db.session.execute(insert(Account), [{"id": n, "name": f"A{n}", **account} for n in ids])
    db.session.execute(
        insert(ChurnRisk), [{"account_id": n, "p_churn_90d": n / count, **risk} for n in ids]
    )
    db.session.execute(insert(Task), [{"account_id": n, **task} for n in ids])
    assert publish_risk_flags(DAY, flagged_at) == count
    bodies = db.session.scalars(
        select(WebhookDelivery.body).where(WebhookDelivery.endpoint_id == endpoint.id)
    )
    figures = {
        event["data"]["account_id"]: event["data"]["p_churn_90d"]
        for event in map(json.loads, bodies)
    }
    assert len(figures) == count and figures[7] == 7 / count
