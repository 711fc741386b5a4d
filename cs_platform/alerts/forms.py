"""The form of the alerts settings page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TimeField
from wtforms.validators import Length, Optional

from cs_platform.alerts.models import ALERT_KINDS, CHANNEL_LABELS, CHANNELS
from cs_platform.forms import MultiCheckboxField, choices

CHANNEL_CHOICES = [(channel, CHANNEL_LABELS[channel]) for channel in CHANNELS]


def channels_field(kind: str) -> str:
    return f"{kind}_channels"


class AlertSettingsForm(FlaskForm):
    # Blank keeps the saved URL: it is never sent back to the browser.
    slack_url = StringField("Slack webhook URL", validators=[Optional(), Length(max=2000)])
    remove_slack = BooleanField("Remove the saved Slack URL")
    teams_url = StringField("Teams webhook URL", validators=[Optional(), Length(max=2000)])
    remove_teams = BooleanField("Remove the saved Teams URL")
    rule_channels = MultiCheckboxField("Rule alerts", choices=choices(CHANNEL_CHOICES))
    escalation_channels = MultiCheckboxField("Escalations", choices=choices(CHANNEL_CHOICES))
    task_assigned_channels = MultiCheckboxField(
        "Tasks assigned to me", choices=choices(CHANNEL_CHOICES)
    )
    quiet_start = TimeField("Quiet hours from", validators=[Optional()])
    quiet_end = TimeField("Quiet hours until", validators=[Optional()])
    timezone = StringField("Time zone", validators=[Optional(), Length(max=64)])
    paused = BooleanField("Pause all alerts")

    def channels(self) -> dict[str, list[str]]:
        return {kind: list(self[channels_field(kind)].data or []) for kind in ALERT_KINDS}
