"""The API that raises alerts: `enqueue_alerts` turns alerts into outbox messages, one per
(alert, channel), by each recipient's preferences, in the caller's transaction.

A channel the user has not set up (no Slack URL) falls back to email; a user who paused alerts,
or is deactivated, gets nothing; an alert raised in the user's quiet hours waits for their end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app

from cs_platform import clock, outbox
from cs_platform.alerts.models import ALERT_KINDS, CHANNELS, AlertPreference
from cs_platform.alerts.quiet_hours import quiet_until
from cs_platform.alerts.services import preferences_of, user_zone
from cs_platform.models import User

MAX_DEDUPE_KEY = 200  # outbox_messages.dedupe_key


@dataclass(frozen=True)
class Alert:
    """One alert to one user about one account."""

    user_id: int
    kind: str  # one of ALERT_KINDS
    account_id: int
    account_name: str
    reason: str  # one line of plain text
    dedupe_key: str  # unique per logical alert, e.g. "rule:3:v2:acct:17:step:0"
    channels: tuple[str, ...] | None = None  # None: the user's preferences for `kind`


def outbox_kind(channel: str) -> str:
    """The outbox kind that delivers a channel: alert_email, alert_slack, alert_teams."""
    return f"alert_{channel}"


def enqueue_alerts(alerts: Sequence[Alert]) -> int:
    """Queue every alert on its channels in the current session (the caller commits); returns
    the messages added. Recipients and their preferences are read in one query; a dedupe key
    already queued is skipped, so raising the same alert again sends nothing twice. ValueError
    for an unknown kind or channel."""
    check_alerts(alerts)
    recipients = preferences_of(alert.user_id for alert in alerts)
    now = clock.utcnow()
    rows: dict[str, dict[str, Any]] = {}
    for alert in alerts:
        if alert.user_id not in recipients:
            continue  # deactivated or deleted
        user, preference = recipients[alert.user_id]
        if preference is not None and preference.paused:
            continue
        not_before = held_until(user, preference, now)
        for channel in delivery_channels(alert, preference):
            row = outbox_row(alert_payload(alert, channel), alert.dedupe_key, not_before)
            rows.setdefault(row["dedupe_key"], row)
    return outbox.enqueue_many(list(rows.values()))


def check_alerts(alerts: Sequence[Alert]) -> None:
    for alert in alerts:
        if alert.kind not in ALERT_KINDS:
            raise ValueError(f"unknown alert kind {alert.kind!r}: use one of {ALERT_KINDS}")
        unknown = set(alert.channels or ()) - set(CHANNELS)
        if unknown:
            raise ValueError(f"unknown alert channels {sorted(unknown)}: use {CHANNELS}")


def held_until(
    user: User, preference: AlertPreference | None, now: dt.datetime
) -> dt.datetime | None:
    """When an alert raised `now` may leave: the end of the user's quiet hours, or None."""
    if preference is None:
        return None
    return quiet_until(now, preference.quiet_start, preference.quiet_end, user_zone(user))


def delivery_channels(alert: Alert, preference: AlertPreference | None) -> list[str]:
    """The alert's channels (its own, or the user's for its kind), each Slack or Teams channel
    without a URL replaced by email, without repeats."""
    if alert.channels is not None:
        wanted = list(alert.channels)
    else:
        wanted = preference.channels_for(alert.kind) if preference else ["email"]
    resolved = [channel if is_set_up(preference, channel) else "email" for channel in wanted]
    return list(dict.fromkeys(resolved))


def is_set_up(preference: AlertPreference | None, channel: str) -> bool:
    if channel == "email":
        return True
    return preference is not None and getattr(preference, f"{channel}_url_encrypted") is not None


def alert_payload(alert: Alert, channel: str) -> dict[str, Any]:
    return {
        "user_id": alert.user_id,
        "kind": alert.kind,
        "channel": channel,
        "account_id": alert.account_id,
        "account_name": alert.account_name,
        "reason": " ".join(alert.reason.split()),  # one line, whatever the caller sent
        "link": absolute_url("accounts.detail", account_id=alert.account_id),
    }


def outbox_row(
    payload: dict[str, Any], alert_key: str, not_before: dt.datetime | None = None
) -> dict[str, Any]:
    return {
        "kind": outbox_kind(payload["channel"]),
        "payload": payload,
        "dedupe_key": channel_dedupe_key(alert_key, payload["channel"]),
        "next_attempt_at": not_before,
    }


def channel_dedupe_key(alert_key: str, channel: str) -> str:
    """`<alert key>:<channel>`; a key too long for the column keeps its start and a digest of
    the whole, so it stays unique and the same alert still gets the same key."""
    key = f"{alert_key}:{channel}"
    if len(key) <= MAX_DEDUPE_KEY:
        return key
    digest = hashlib.sha256(alert_key.encode()).hexdigest()
    return f"{alert_key[: MAX_DEDUPE_KEY - len(digest) - len(channel) - 2]}:{digest}:{channel}"


def absolute_url(endpoint: str, **values: Any) -> str:
    """BASE_URL + the endpoint's path, built without a request (the outbox worker has none)."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["BASE_URL"].rstrip("/") + path


def enqueue_test_alert(user: User, channel: str) -> str:
    """Queue a test alert to `user` on `channel` now (quiet hours and pause do not apply);
    returns the channel it goes to (email when the one asked for is not set up)."""
    preference = preferences_of([user.id]).get(user.id, (user, None))[1]
    resolved = channel if is_set_up(preference, channel) else "email"
    payload = {
        "user_id": user.id,
        "kind": "test",
        "channel": resolved,
        "account_id": None,
        "account_name": "Test alert",
        "reason": f"This is a test of your {channel} alerts from CS Platform.",
        "link": absolute_url("alerts.settings"),
    }
    key = f"alert-test:{user.id}:{channel}:{clock.utcnow().isoformat()}"
    outbox.enqueue_many([outbox_row(payload, key)])
    return resolved
