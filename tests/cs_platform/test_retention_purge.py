"""Retention: raw usage events and finished delivery logs are purged after their window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.outbox import OutboxMessage
from cs_platform.retention import purge_expired, purge_job
from cs_platform.scheduler import declared_jobs
from cs_platform.webhooks.models import WebhookDelivery, WebhookEndpoint
from integrations.models import RawUsageEvent
from integrations.services import save_connection


def days_ago(days: int) -> dt.datetime:
    return utcnow() - dt.timedelta(days=days)


@pytest.fixture
def retention(app) -> Iterator[dict]:
    """The retention settings of the app, restored after the test."""
    keys = ("RAW_USAGE_EVENTS_RETENTION_DAYS", "DELIVERY_LOG_RETENTION_DAYS")
    saved = {key: app.config[key] for key in keys}
    app.config.update(RAW_USAGE_EVENTS_RETENTION_DAYS=35, DELIVERY_LOG_RETENTION_DAYS=90)
    yield app.config
    app.config.update(saved)


def add_raw_events(*ages_in_days: int) -> None:
    source = save_connection(None, name="product-events", kind="segment", credentials={})
    db.session.flush()
    for number, age in enumerate(ages_in_days):
        received = days_ago(age)
        db.session.add(
            RawUsageEvent(
                connection_id=source.id,
                message_id=f"msg-{number}",
                type="track",
                event="Report Exported",
                group_id="acme",
                day=received.date(),
                timestamp=received,
                received_at=received,
            )
        )
    db.session.commit()


def add_outbox(status: str, age: int) -> None:
    db.session.add(
        OutboxMessage(
            kind="email", payload={}, dedupe_key=f"{status}-{age}", status=status,
            created_at=days_ago(age),
        )
    )  # fmt: skip
    db.session.commit()


def add_delivery(status: str, age: int) -> None:
    endpoint = db.session.scalar(select(WebhookEndpoint)) or WebhookEndpoint(
        url="https://crm.example/hooks", secret_encrypted="x"
    )
    db.session.add(
        WebhookDelivery(
            endpoint=endpoint, message_id=f"evt-{status}-{age}", event_type="health_score.changed",
            body="{}", status=status, created_at=days_ago(age),
        )
    )  # fmt: skip
    db.session.commit()


def test_raw_usage_events_older_than_the_window_are_purged(retention):
    add_raw_events(40, 36, 34, 1)

    result = purge_expired()
    db.session.commit()

    assert result.raw_usage_events == 2
    assert sorted(db.session.scalars(select(RawUsageEvent.message_id))) == ["msg-2", "msg-3"]


def test_finished_delivery_logs_are_purged_and_pending_work_is_kept(retention):
    for status in ("sent", "failed", "dead", "cancelled", "pending", "sending"):
        add_outbox(status, 120)
    add_outbox("sent", 10)
    for status in ("succeeded", "failed", "pending"):
        add_delivery(status, 120)
    add_delivery("succeeded", 10)

    result = purge_expired()
    db.session.commit()

    assert (result.outbox_messages, result.webhook_deliveries) == (4, 2)
    outbox = db.session.execute(select(OutboxMessage.status, OutboxMessage.dedupe_key)).all()
    assert sorted(outbox) == [("pending", "pending-120"), ("sending", "sending-120"),
                              ("sent", "sent-10")]  # fmt: skip
    kept = db.session.scalars(select(WebhookDelivery.message_id)).all()
    assert sorted(kept) == ["evt-pending-120", "evt-succeeded-10"]


def test_a_window_of_zero_keeps_everything(retention):
    retention.update(RAW_USAGE_EVENTS_RETENTION_DAYS=0, DELIVERY_LOG_RETENTION_DAYS=0)
    add_raw_events(4000)
    add_outbox("sent", 4000)

    assert purge_expired().describe() == (
        "purged 0 raw usage event(s), 0 outbox message(s), 0 webhook delivery log(s), "
        "0 webhook event(s)"
    )


def test_a_raw_event_window_shorter_than_the_dedup_window_is_refused(retention, runner):
    retention.update(RAW_USAGE_EVENTS_RETENTION_DAYS=2)
    add_raw_events(3)

    outcome = runner.invoke(args=["retention", "purge"])

    assert outcome.exit_code == 1
    assert "RAW_USAGE_EVENTS_RETENTION_DAYS=2" in outcome.output
    assert db.session.scalar(select(RawUsageEvent.message_id)) == "msg-0"


def test_the_purge_command_reports_what_it_deleted(retention, runner):
    add_raw_events(50)

    outcome = runner.invoke(args=["retention", "purge"])

    assert outcome.exit_code == 0, outcome.output
    assert "purged 1 raw usage event(s)" in outcome.output


def test_the_purge_runs_nightly_as_a_declared_job(app):
    spec = next(spec for spec in declared_jobs(app) if spec.id == "retention-purge")
    assert spec.func is purge_job
    assert spec.trigger == "cron"
