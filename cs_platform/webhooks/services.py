"""Endpoint management behind the admin pages: register, rotate, test, replay. Callers commit."""

from __future__ import annotations

import datetime as dt
import uuid

from flask import current_app
from sqlalchemy import select, update

from cs_platform.extensions import db
from cs_platform.models import User, utcnow
from cs_platform.webhooks.events import publish_events, queue_deliveries
from cs_platform.webhooks.models import (
    EVENT_TYPES,
    TEST_EVENT,
    WebhookDelivery,
    WebhookEndpoint,
)
from cs_platform.webhooks.signing import cipher, generate_secret
from cs_platform.webhooks.ssrf import check_target


class WebhookError(ValueError):
    """Invalid endpoint input; the message is fit to show to the admin who typed it."""


def encrypt(secret: str) -> str:
    config = current_app.config
    return (
        cipher(config["WEBHOOK_ENCRYPTION_KEY"], config["SECRET_KEY"])
        .encrypt(secret.encode())
        .decode()
    )


def create_endpoint(
    url: str,
    event_types: list[str],
    description: str = "",
    allow_private: bool = False,
    created_by: User | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its whsec_ secret, which is shown once."""
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown or not event_types:
        raise WebhookError(f"choose event types among {', '.join(EVENT_TYPES)}")
    check_target(url, allow_private)
    secret = generate_secret()
    endpoint = WebhookEndpoint(
        url=url,
        description=description,
        event_types=sorted(set(event_types)),
        secret_encrypted=encrypt(secret),
        allow_private=allow_private,
        created_by_id=created_by.id if created_by else None,
    )
    db.session.add(endpoint)
    db.session.flush()
    return endpoint, secret


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    """A new secret; the old one keeps signing beside it for WEBHOOK_ROTATION_OVERLAP_HOURS."""
    secret = generate_secret()
    hours = current_app.config["WEBHOOK_ROTATION_OVERLAP_HOURS"]
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = utcnow() + dt.timedelta(hours=hours)
    endpoint.secret_encrypted = encrypt(secret)
    return secret


def set_active(endpoint: WebhookEndpoint, active: bool) -> None:
    """Enable (clearing the failure streak) or disable an endpoint."""
    endpoint.active = active
    endpoint.disabled_reason = None if active else "disabled by an admin"
    if active:
        endpoint.consecutive_failures, endpoint.failing_since = 0, None


def send_test(endpoint: WebhookEndpoint) -> None:
    """Queue a webhook.test event to this endpoint only."""
    data = {"endpoint_id": endpoint.id, "message": "Test event from CS Platform"}
    publish_events(TEST_EVENT, [data], endpoint_ids=[endpoint.id])


def replay(delivery: WebhookDelivery) -> None:
    """Send a delivery again, with its original webhook-id and body."""
    delivery.status = "pending"
    queue_deliveries([(delivery.id, delivery.endpoint_id)], f"replay-{uuid.uuid4().hex[:12]}")


def replay_failed(endpoint: WebhookEndpoint) -> int:
    """Send every failed delivery of an endpoint again; returns how many."""
    ids = list(
        db.session.scalars(
            select(WebhookDelivery.id).where(
                WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "failed"
            )
        )
    )
    if ids:
        db.session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(status="pending")
        )
        pairs = [(delivery_id, endpoint.id) for delivery_id in ids]
        queue_deliveries(pairs, f"replay-{uuid.uuid4().hex[:12]}")
    return len(ids)


def is_flagged(endpoint: WebhookEndpoint) -> bool:
    """Failing long enough that an admin should look at it."""
    return endpoint.consecutive_failures >= current_app.config["WEBHOOK_FLAG_AFTER_FAILURES"]
