"""Prometheus metrics read from the database."""

from __future__ import annotations

import datetime as dt

import pytest

from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.outbox import OutboxMessage
from scoring.runs import score_accounts
from tests.scoring.conftest import write_book


def add_message(kind: str, status: str, age_minutes: int, key: str) -> None:
    created = utcnow() - dt.timedelta(minutes=age_minutes)
    db.session.add(
        OutboxMessage(kind=kind, payload={}, dedupe_key=key, status=status, created_at=created)
    )


def test_metrics_count_outbox_messages_and_the_age_of_the_oldest_pending(client):
    add_message("email", "pending", 10, "a")
    add_message("email", "sent", 30, "b")
    add_message("webhook", "failed", 5, "c")
    db.session.commit()
    body = client.get("/metrics").text
    assert 'cs_outbox_messages{kind="email",status="pending"} 1.0' in body
    assert 'cs_outbox_messages{kind="webhook",status="failed"} 1.0' in body
    age_line = next(
        line for line in body.splitlines() if line.startswith("cs_outbox_oldest_pending_age")
    )
    assert 590 <= float(age_line.split()[-1]) <= 660


def test_metrics_need_the_token_when_one_is_configured(app, client):
    app.config["METRICS_TOKEN"] = "s3cret-token"
    try:
        assert client.get("/metrics").status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
    finally:
        app.config["METRICS_TOKEN"] = ""


@pytest.mark.parametrize(
    ("remote_addr", "headers"),
    [("203.0.113.9", {}), ("10.0.0.7", {}), ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"})],
)
def test_metrics_without_a_token_answer_only_a_scraper_on_this_machine(
    client, remote_addr, headers
):
    response = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": remote_addr})

    assert response.status_code == 403
    assert "METRICS_TOKEN" in response.text


def test_metrics_without_a_token_answer_loopback_over_ipv6(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def metric(body: str, name: str) -> float | None:
    """The value of the sample `name` (no labels), None when there is no sample."""
    values = [line.split()[-1] for line in body.splitlines() if line.startswith(f"{name} ")]
    return float(values[0]) if values else None


def test_metrics_show_the_last_scoring_runs_duration_and_the_count_of_runs(client):
    day = write_book(accounts=12)
    before = client.get("/metrics").text
    assert metric(before, "cs_scoring_runs_total") == 0
    assert metric(before, "cs_scoring_last_run_duration_seconds") is None  # no run yet

    score_accounts(day - dt.timedelta(days=1))
    db.session.commit()
    last = score_accounts(day)
    db.session.commit()

    body = client.get("/metrics").text
    assert metric(body, "cs_scoring_runs_total") == 2
    assert metric(body, "cs_scoring_last_run_duration_seconds") == pytest.approx(last.seconds)
