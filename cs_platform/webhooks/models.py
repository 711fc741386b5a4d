"""Registered webhook endpoints and the log of what was sent to them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cs_platform.extensions import db
from cs_platform.models import in_check, utcnow

EVENT_TYPES = (
    "health_score.changed",
    "churn_risk.flagged",
    "survey_response.created",
    "survey_response.updated",
    "task.created",
)
# Sent only by the "Send test" button, to one endpoint, whatever it subscribes to.
TEST_EVENT = "webhook.test"
DELIVERY_STATUSES = ("pending", "succeeded", "failed")


class WebhookEndpoint(db.Model):
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


class WebhookDelivery(db.Model):
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
