"""Each user's alert preferences: where each kind of alert goes, webhook URLs, quiet hours."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from cs_platform.extensions import Model
from cs_platform.models import utcnow

# What raises an alert: an automation rule fired, an escalation reached the user, a task was
# assigned to them.
ALERT_KINDS = ("rule", "escalation", "task_assigned")
# "test": the settings page's "Send a test alert", not a kind callers raise.
KIND_LABELS = {
    "rule": "Rule",
    "escalation": "Escalation",
    "task_assigned": "Task assigned",
    "test": "Test",
}
CHANNELS = ("email", "slack", "teams")
CHANNEL_LABELS = {"email": "Email", "slack": "Slack", "teams": "Microsoft Teams"}
DEFAULT_CHANNELS: dict[str, list[str]] = {kind: ["email"] for kind in ALERT_KINDS}


class AlertPreference(Model):
    """One row per user who changed the defaults (no row: every kind by email, no quiet hours).

    The webhook URLs are secrets (whoever holds one posts into the channel): Fernet-encrypted
    with WEBHOOK_ENCRYPTION_KEY, like webhook signing secrets.
    """

    __tablename__ = "alert_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    slack_url_encrypted: Mapped[str | None] = mapped_column(Text)
    teams_url_encrypted: Mapped[str | None] = mapped_column(Text)
    # {kind: [channel, ...]} for every kind of ALERT_KINDS; an empty list turns the kind off.
    channels: Mapped[dict] = mapped_column(JSON, default=lambda: dict(DEFAULT_CHANNELS))
    # Local times in the user's time zone; an alert raised between them waits for the end
    # (start > end spans midnight). Both or neither.
    quiet_start: Mapped[dt.time | None]
    quiet_end: Mapped[dt.time | None]
    paused: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def channels_for(self, kind: str) -> list[str]:
        """The channels the user chose for `kind` (email when the kind was never set)."""
        return list((self.channels or {}).get(kind, DEFAULT_CHANNELS[kind]))
