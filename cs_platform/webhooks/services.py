"""Endpoint management behind the admin pages and the API: register, change, rotate, test,
enable (releasing held deliveries), replay. Callers commit."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select, update

from cs_platform.audit import record_audit
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


def check_event_types(event_types: list[str]) -> list[str]:
    """The chosen event types, sorted and unique; WebhookError unless all are known."""
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown or not event_types:
        raise WebhookError(f"choose event types among {', '.join(EVENT_TYPES)}")
    return sorted(set(event_types))


def create_endpoint(
    url: str,
    event_types: list[str],
    description: str = "",
    allow_private: bool = False,
    created_by: User | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its whsec_ secret, which is shown once."""
    event_types = check_event_types(event_types)
    check_target(url, allow_private)
    secret = generate_secret()
    endpoint = WebhookEndpoint(
        url=url,
        description=description,
        event_types=event_types,
        secret_encrypted=encrypt(secret),
        allow_private=allow_private,
        created_by_id=created_by.id if created_by else None,
    )
    db.session.add(endpoint)
    db.session.flush()
    return endpoint, secret


def update_endpoint(
    endpoint: WebhookEndpoint, changes: dict[str, Any], disabled_reason: str
) -> list[str]:
    """Apply API changes (url, event_types, description, enabled); returns the fields changed.
    A new URL is checked as a public target and drops an admin's private-address permission,
    which was given for the old one; enabling queues the held deliveries."""
    changed = []
    if "url" in changes and changes["url"] != endpoint.url:
        check_target(changes["url"])
        endpoint.url, endpoint.allow_private = changes["url"], False
        changed.append("url")
    if "event_types" in changes:
        event_types = check_event_types(changes["event_types"])
        if event_types != endpoint.event_types:
            endpoint.event_types = event_types
            changed.append("event_types")
    if "description" in changes and changes["description"] != endpoint.description:
        endpoint.description = changes["description"]
        changed.append("description")
    if "enabled" in changes and changes["enabled"] != endpoint.active:
        set_active(endpoint, changes["enabled"], disabled_reason)
        changed.append("enabled")
    return changed


def audit_endpoint(action: str, endpoint: WebhookEndpoint, **details: object) -> None:
    """Audit an endpoint by id and host only: receivers often put a token in the URL's path or
    query, and the signing secret never goes in."""
    host = urlsplit(endpoint.url).hostname or ""
    record_audit(action, f"webhook_endpoint:{endpoint.id}", {"host": host, **details})


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    """A new secret; the old one keeps signing beside it for WEBHOOK_ROTATION_OVERLAP_HOURS."""
    secret = generate_secret()
    hours = current_app.config["WEBHOOK_ROTATION_OVERLAP_HOURS"]
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = utcnow() + dt.timedelta(hours=hours)
    endpoint.secret_encrypted = encrypt(secret)
    return secret


def set_active(
    endpoint: WebhookEndpoint, active: bool, disabled_reason: str = "disabled by an admin"
) -> int:
    """Enable (clearing the failure streak, queueing the held deliveries in order) or disable an
    endpoint; returns the held deliveries queued."""
    endpoint.active = active
    endpoint.disabled_reason = None if active else disabled_reason
    if not active:
        return 0
    endpoint.consecutive_failures, endpoint.failing_since = 0, None
    return release_held(endpoint)


def release_held(endpoint: WebhookEndpoint) -> int:
    """Queue every held delivery of the endpoint, oldest first; returns how many."""
    return requeue(endpoint, ("held",))


def held_count(endpoint: WebhookEndpoint) -> int:
    """Deliveries recorded for the endpoint while it was disabled, not sent yet."""
    return db.session.execute(
        select(func.count()).where(
            WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "held"
        )
    ).scalar_one()


def send_test(endpoint: WebhookEndpoint) -> None:
    """Queue a webhook.test event to this endpoint only."""
    data = {"endpoint_id": endpoint.id, "message": "Test event from CS Platform"}
    publish_events(TEST_EVENT, [data], endpoint_ids=[endpoint.id])


def replay(delivery: WebhookDelivery) -> None:
    """Send a delivery again, with its original webhook-id and body."""
    delivery.status = "pending"
    queue_deliveries([(delivery.id, delivery.endpoint_id)], f"replay-{uuid.uuid4().hex[:12]}")


def replay_failed(endpoint: WebhookEndpoint) -> int:
    """Send every failed delivery of an endpoint again, and its held ones if it is active (held
    while it was being enabled); returns how many."""
    return requeue(endpoint, ("failed", "held") if endpoint.active else ("failed",))


def requeue(endpoint: WebhookEndpoint, statuses: tuple[str, ...]) -> int:
    """Make the endpoint's deliveries in `statuses` pending and queue them, oldest first (one
    UPDATE, so a delivery held meanwhile is either queued or left held)."""
    ids = db.session.scalars(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status.in_(statuses))
        .values(status="pending")
        .returning(WebhookDelivery.id)
    ).all()
    pairs = [(delivery_id, endpoint.id) for delivery_id in sorted(ids)]
    queue_deliveries(pairs, f"replay-{uuid.uuid4().hex[:12]}")
    return len(ids)


def is_flagged(endpoint: WebhookEndpoint) -> bool:
    """Failing long enough that an admin should look at it."""
    return endpoint.consecutive_failures >= current_app.config["WEBHOOK_FLAG_AFTER_FAILURES"]
