"""Prometheus metrics read from the database."""

from __future__ import annotations

import datetime as dt

from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.outbox import OutboxMessage


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
