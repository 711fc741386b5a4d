"""Reading and saving alert preferences: webhook URLs encrypted at rest, checked against SSRF,
shown masked; every change audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from cryptography.fernet import MultiFernet
from flask import current_app
from sqlalchemy import select

from cs_platform import clock
from cs_platform.alerts.models import ALERT_KINDS, CHANNELS, DEFAULT_CHANNELS, AlertPreference
from cs_platform.audit import record_audit
from cs_platform.extensions import db
from cs_platform.models import User
from cs_platform.webhooks.signing import cipher
from cs_platform.webhooks.ssrf import UnsafeTargetError, check_target

WEBHOOK_CHANNELS = ("slack", "teams")


class AlertSettingsError(ValueError):
    """Bad input on the alerts page: `field` names the form field, the message is for the user."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def url_cipher() -> MultiFernet:
    config = current_app.config
    return cipher(config["WEBHOOK_ENCRYPTION_KEY"], config["SECRET_KEY"])


def encrypt_url(url: str) -> str:
    return url_cipher().encrypt(url.encode()).decode()


def decrypt_url(token: str | None) -> str | None:
    return url_cipher().decrypt(token.encode()).decode() if token else None


def webhook_url(preference: AlertPreference | None, channel: str) -> str | None:
    """The user's decrypted Slack or Teams incoming-webhook URL, None when not set."""
    if preference is None or channel not in WEBHOOK_CHANNELS:
        return None
    return decrypt_url(getattr(preference, f"{channel}_url_encrypted"))


def mask_url(url: str) -> str:
    """Enough of a webhook URL to recognise it, never enough to use it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…{url[-4:]}"


def private_hosts_allowed() -> bool:
    return bool(current_app.config["ALERTS_ALLOW_PRIVATE_HOSTS"])


def check_webhook_url(field: str, url: str) -> None:
    """AlertSettingsError naming `field` unless `url` is an https URL of a public host (http
    and private addresses too when ALERTS_ALLOW_PRIVATE_HOSTS is set)."""
    allow_private = private_hosts_allowed()
    if not allow_private and urlsplit(url).scheme != "https":
        raise AlertSettingsError(field, "use the https:// URL the incoming webhook gave you")
    try:
        check_target(url, allow_private)
    except UnsafeTargetError as error:
        raise AlertSettingsError(field, str(error)) from None


def check_timezone(name: str) -> str | None:
    """The IANA name, stripped (None when blank); AlertSettingsError for an unknown zone."""
    name = name.strip()
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise AlertSettingsError(
            "timezone", f"{name!r} is not an IANA time zone name, e.g. Europe/Berlin"
        ) from None
    return name


def user_zone(user: User) -> ZoneInfo:
    """The user's time zone, or the business time zone when they have none."""
    return clock.zone(user.timezone) if user.timezone else clock.business_zone()


def preference_of(user_id: int) -> AlertPreference | None:
    return db.session.get(AlertPreference, user_id)


def preferences_of(user_ids: Iterable[int]) -> dict[int, tuple[User, AlertPreference | None]]:
    """Active users among `user_ids` with their preferences (None: defaults), in one query."""
    rows = db.session.execute(
        select(User, AlertPreference)
        .outerjoin(AlertPreference, AlertPreference.user_id == User.id)
        .where(User.id.in_(sorted(set(user_ids))), User.active.is_(True))
    ).all()
    return {user.id: (user, preference) for user, preference in rows}


@dataclass(frozen=True)
class PreferenceChanges:
    """What the alerts page submitted. A URL of None keeps the saved one; `remove_*` clears it."""

    channels: dict[str, list[str]]
    quiet_start: dt.time | None
    quiet_end: dt.time | None
    timezone: str
    paused: bool
    slack_url: str | None = None
    teams_url: str | None = None
    remove_slack: bool = False
    remove_teams: bool = False


def save_preferences(user: User, changes: PreferenceChanges) -> AlertPreference:
    """Check and apply `changes` to the user's preferences (created on first save) and time
    zone, and audit which settings changed (never the URLs themselves). The caller commits."""
    timezone = check_timezone(changes.timezone)
    check_quiet_hours(changes.quiet_start, changes.quiet_end)
    preference = preference_of(user.id) or AlertPreference(user_id=user.id)
    set_urls(preference, changes)
    preference.channels = {
        kind: [channel for channel in CHANNELS if channel in changes.channels.get(kind, [])]
        for kind in ALERT_KINDS
    }
    preference.quiet_start, preference.quiet_end = changes.quiet_start, changes.quiet_end
    preference.paused = changes.paused
    db.session.add(preference)
    changed = sorted(changed_settings(preference))
    if user.timezone != timezone:
        user.timezone = timezone
        changed.append("timezone")
    if changed:
        record_audit("alert_preferences.updated", f"user:{user.id}", {"changed": changed})
    return preference


def check_quiet_hours(start: dt.time | None, end: dt.time | None) -> None:
    if (start is None) != (end is None):
        field = "quiet_end" if end is None else "quiet_start"
        raise AlertSettingsError(
            field, "give both the start and the end of quiet hours, or neither"
        )
    if start is not None and start == end:
        raise AlertSettingsError(
            "quiet_end", "quiet hours must end at another time than they start"
        )


def set_urls(preference: AlertPreference, changes: PreferenceChanges) -> None:
    """Check and encrypt new URLs, clear removed ones."""
    for channel in WEBHOOK_CHANNELS:
        url: str | None = getattr(changes, f"{channel}_url")
        column = f"{channel}_url_encrypted"
        if getattr(changes, f"remove_{channel}"):
            setattr(preference, column, None)
        elif url:
            check_webhook_url(f"{channel}_url", url)
            setattr(preference, column, encrypt_url(url))


# What a user without a row has: the baseline a first save is compared with.
DEFAULT_SETTINGS = {
    "slack_url_encrypted": None,
    "teams_url_encrypted": None,
    "channels": DEFAULT_CHANNELS,
    "quiet_start": None,
    "quiet_end": None,
    "paused": False,
}


def changed_settings(preference: AlertPreference) -> set[str]:
    """Names of the settings an unflushed edit changes (URLs by name only); a first save is
    compared with the defaults."""
    state = db.inspect(preference)
    names = set()
    for name, default in DEFAULT_SETTINGS.items():
        history = state.attrs[name].history
        if state.transient or state.pending:
            changed = getattr(preference, name) != default
        else:
            changed = bool(history.added or history.deleted) and history.added != history.deleted
        if changed:
            names.add(name.removesuffix("_encrypted"))
    return names
