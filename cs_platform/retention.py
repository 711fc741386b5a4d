"""Data retention: raw usage events and delivery logs are kept only as long as configured.

RAW_USAGE_EVENTS_RETENTION_DAYS (default 35, at least MIN_RAW_EVENT_DAYS: the raw events are
the dedup window of the ingestion endpoint) and DELIVERY_LOG_RETENTION_DAYS (default 90) set the
windows; 0 keeps forever. Only finished deliveries are purged: pending work is never touched.
Webhook events (the event list API) go with the delivery logs, and so do deliveries held for a
disabled endpoint: re-enabling it sends what was held within the window.
The nightly job `retention-purge` applies them; `flask --app wsgi retention purge` runs it now.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import delete

from cs_platform.config import ConfigError
from cs_platform.extensions import Model, db, rowcount
from cs_platform.models import utcnow
from cs_platform.outbox import OutboxMessage
from cs_platform.scheduler import JobSpec
from cs_platform.webhooks.models import WebhookDelivery, WebhookEvent
from integrations.usage import prune_raw_events

log = logging.getLogger(__name__)

MIN_RAW_EVENT_DAYS = 7
FINISHED_OUTBOX = ("sent", "failed", "dead", "cancelled")
FINISHED_WEBHOOK = ("succeeded", "failed", "held")


@dataclass(frozen=True)
class PurgeResult:
    raw_usage_events: int = 0
    outbox_messages: int = 0
    webhook_deliveries: int = 0
    webhook_events: int = 0

    def describe(self) -> str:
        return (
            f"purged {self.raw_usage_events} raw usage event(s), {self.outbox_messages} "
            f"outbox message(s), {self.webhook_deliveries} webhook delivery log(s), "
            f"{self.webhook_events} webhook event(s)"
        )


def retention_days(setting: str, minimum: int = 1) -> int:
    """The configured window in days (0: keep forever); a window below `minimum` is refused."""
    days = int(current_app.config[setting])
    if days < 0 or 0 < days < minimum:
        raise ConfigError(f"{setting}={days}: use 0 (keep forever) or at least {minimum} days")
    return days


def purge_expired() -> PurgeResult:
    """Delete rows past their retention window, set-wise; flushes (the caller commits)."""
    raw_days = retention_days("RAW_USAGE_EVENTS_RETENTION_DAYS", MIN_RAW_EVENT_DAYS)
    log_days = retention_days("DELIVERY_LOG_RETENTION_DAYS")
    raw = prune_raw_events(raw_days) if raw_days else 0
    outbox = webhooks = events = 0
    if log_days:
        cutoff = utcnow() - dt.timedelta(days=log_days)
        outbox = _delete(
            OutboxMessage,
            OutboxMessage.status.in_(FINISHED_OUTBOX),
            OutboxMessage.created_at < cutoff,
        )
        webhooks = _delete(
            WebhookDelivery,
            WebhookDelivery.status.in_(FINISHED_WEBHOOK),
            WebhookDelivery.created_at < cutoff,
        )
        events = _delete(WebhookEvent, WebhookEvent.created_at < cutoff)
    return PurgeResult(raw, outbox, webhooks, events)


def _delete(model: type[Model], *conditions) -> int:
    result = db.session.execute(
        delete(model).where(*conditions).execution_options(synchronize_session=False)
    )
    return rowcount(result) or 0


def purge_job() -> None:
    """The nightly purge: one transaction."""
    result = purge_expired()
    db.session.commit()
    log.info("retention purge", extra={"result": result.describe()})


retention_group = AppGroup("retention", help="Data retention.")


@retention_group.command("purge")
def purge_command() -> None:
    """Delete raw usage events and finished delivery logs past their retention window now."""
    try:
        result = purge_expired()
    except ConfigError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(result.describe())


JOBS = [
    JobSpec(
        "retention-purge",
        purge_job,
        "cron",
        {"hour": 3, "minute": 45},
        misfire_grace_time=12 * 3600,
    ),
]
