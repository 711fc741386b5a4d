"""Registered webhook endpoints and the log of what was sent to them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cs_platform.extensions import Model
from cs_platform.models import in_check, utcnow

EVENT_TYPES = (
    "health_score.changed",
    "churn_risk.flagged",
    "survey_response.created",
    "survey_response.updated",
    "task.created",
    "automation.rule_fired",
)
# Sent only by the "Send test" button, to one endpoint, whatever it subscribes to.
TEST_EVENT = "webhook.test"
# "held": recorded for a disabled endpoint, not sent; re-enabling the endpoint queues it.
DELIVERY_STATUSES = ("pending", "succeeded", "failed", "held")


class WebhookEndpoint(Model):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The whsec_ signing secret, Fernet-encrypted with WEBHOOK_ENCRYPTION_KEY: it must be
    # recoverable to sign, so it cannot be hashed.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # After a rotation the old secret also signs until it expires, so receivers can switch over.
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[dt.datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    # Lets an admin target private or loopback addresses (an internal receiver); off by default.
    allow_private: Mapped[bool] = mapped_column(default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    failing_since: Mapped[dt.datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def subscribes_to(self, event_type: str) -> bool:
        return event_type in self.event_types


class WebhookEvent(Model):
    """One published event, stored once: the event list API serves it, deliveries point to it."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The webhook-id of every delivery of the event.
    message_id: Mapped[str] = mapped_column(String(80), unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    # The signed body {"type", "timestamp", "data"}, as every endpoint receives it.
    body: Mapped[str] = mapped_column(Text)
    # The event's place in the event list, given after its transaction committed (see
    # events.number_committed_events), so a reader never pages past an event committed late.
    position: Mapped[int | None] = mapped_column(unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


class WebhookDelivery(Model):
    """One event for one endpoint: the exact signed body, its status and its attempts."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(in_check("status", DELIVERY_STATUSES), name="status"),
        # One delivery per event and endpoint, so re-publishing an event is a no-op.
        UniqueConstraint("endpoint_id", "message_id"),
        Index("ix_webhook_deliveries_endpoint_status", "endpoint_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    # The stored event (null once the event outlived its retention window, or for old rows).
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="SET NULL"), index=True
    )
    # The webhook-id header: the event's id, the same on every retry and replay.
    message_id: Mapped[str] = mapped_column(String(80))
    event_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    response_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    # The latest attempts, newest last: [{"at", "status", "ms", "error"}, ...] (at most 20).
    attempt_log: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]

    endpoint: Mapped[WebhookEndpoint] = relationship()
