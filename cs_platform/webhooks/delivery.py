"""The outbox handler that sends one webhook delivery, signed per Standard Webhooks.

Every non-2xx answer, timeout or connection error is retried on BACKOFF (at once, then 5 s,
5 min, 30 min, 2 h, 5 h, 10 h, then daily, about 3 days in all); 410 Gone disables the endpoint.
Deliveries to a disabled endpoint (the one answered 410 included) are held, not sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests
import urllib3
from flask import current_app
from sqlalchemy import update

from cs_platform import outbox
from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.webhooks.models import WebhookDelivery, WebhookEndpoint
from cs_platform.webhooks.signing import cipher, signature_header
from cs_platform.webhooks.ssrf import UnsafeTargetError, check_target, deadline, guarded_session

# Waits after the 1st, 2nd, ... failed attempt (seconds).
BACKOFF = (5, 300, 1800, 7200, 18000, 36000, 86400, 86400)
MAX_LOG_ENTRIES = 20
USER_AGENT = "cs-platform-webhooks/1"
CONNECT_SECONDS = 5


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: an HTTP status, or an error before any answer."""

    status: int | None
    error: str | None
    milliseconds: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """The current secret, plus the previous one while a rotation's overlap lasts."""
    fernet = cipher(current_app.config["WEBHOOK_ENCRYPTION_KEY"], current_app.config["SECRET_KEY"])
    secrets = [fernet.decrypt(endpoint.secret_encrypted.encode()).decode()]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires and expires > utcnow():
        secrets.append(fernet.decrypt(endpoint.previous_secret_encrypted.encode()).decode())
    return secrets


def signed_headers(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> dict[str, str]:
    timestamp = int(time.time())
    signature = signature_header(
        signing_secrets(endpoint), delivery.message_id, timestamp, delivery.body.encode()
    )
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def attempt(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> Outcome:
    """POST the delivery once within WEBHOOK_TIMEOUT_SECONDS in all (connect, headers, body,
    however slowly the receiver sends); never follows redirects, reads at most 1 KiB of the
    answer. A fresh connection each time, so the deadline can cut it."""
    started = time.monotonic()
    limit = current_app.config["WEBHOOK_TIMEOUT_SECONDS"]
    with deadline(limit) as watch:
        try:
            check_target(endpoint.url, endpoint.allow_private)
            status, error = post(endpoint, delivery, limit), None
        except (requests.RequestException, urllib3.exceptions.HTTPError, UnsafeTargetError,
                OSError) as exc:  # fmt: skip
            status, error = None, f"{type(exc).__name__}: {exc}"[:500]
    if watch.expired:
        status, error = None, f"no complete answer within the {limit} s deadline"
    return Outcome(status, error, int((time.monotonic() - started) * 1000))


def post(endpoint: WebhookEndpoint, delivery: WebhookDelivery, limit: float) -> int:
    """The receiver's status code (the running deadline cuts the connection, not this)."""
    with (
        guarded_session(public_only=not endpoint.allow_private) as session,
        session.post(
            endpoint.url,
            data=delivery.body.encode(),
            headers=signed_headers(endpoint, delivery),
            timeout=(min(CONNECT_SECONDS, limit), limit + 1),  # the deadline comes first
            allow_redirects=False,
            stream=True,
        ) as response,
    ):
        response.raw.read(1024, decode_content=True)
        return response.status_code


def record(delivery: WebhookDelivery, outcome: Outcome, final: bool) -> None:
    """Log the attempt on the delivery and track the endpoint's run of failures."""
    now = utcnow()
    entry = {
        "at": now.isoformat(timespec="seconds"),
        "status": outcome.status,
        "ms": outcome.milliseconds,
        "error": outcome.error,
    }
    delivery.attempts += 1
    delivery.attempt_log = [*delivery.attempt_log, entry][-MAX_LOG_ENTRIES:]
    delivery.last_attempt_at, delivery.response_status = now, outcome.status
    delivery.error = outcome.error
    endpoints = update(WebhookEndpoint).where(WebhookEndpoint.id == delivery.endpoint_id)
    if outcome.ok:
        delivery.status, delivery.delivered_at = "succeeded", now
        # Only touch the endpoint row when it was failing, so busy endpoints see no contention.
        db.session.execute(
            endpoints.where(WebhookEndpoint.consecutive_failures > 0).values(
                consecutive_failures=0, failing_since=None
            )
        )
        return
    delivery.status = "failed" if final else "pending"
    db.session.execute(
        endpoints.values(
            consecutive_failures=WebhookEndpoint.consecutive_failures + 1,
            failing_since=db.func.coalesce(WebhookEndpoint.failing_since, now),
        )
    )


def deliver_webhook(message: outbox.OutboxMessage) -> None:
    """Outbox handler of kind "webhook": send one delivery, report the outcome by raising."""
    delivery = db.session.get(WebhookDelivery, message.payload["delivery_id"])
    if delivery is None:
        raise outbox.DeliveryCancelledError("the delivery was deleted")
    if delivery.status == "succeeded":
        return  # a replay raced a retry that got through: nothing left to send
    endpoint = delivery.endpoint
    if not endpoint.active:
        delivery.status = "held"
        raise outbox.DeliveryCancelledError("endpoint disabled: the delivery is held")
    outcome = attempt(endpoint, delivery)
    gone = outcome.status == 410
    record(delivery, outcome, final=gone or message.attempts > len(BACKOFF))
    if outcome.ok:
        return
    if gone:
        endpoint.active = False
        endpoint.disabled_reason = "the receiver answered 410 Gone"
        delivery.status = "held"  # sent again, first of the held ones, once re-enabled
        raise outbox.PermanentDeliveryError("410 Gone: endpoint disabled, delivery held")
    raise outbox.TransientDeliveryError(outcome.error or f"HTTP {outcome.status}")
