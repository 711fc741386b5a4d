"""Admin forms: a connection (fields for its kind's credentials) and resolving a queued record."""

from __future__ import annotations

import json

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.validators import URL, DataRequired, Length, NumberRange, Optional, ValidationError

from integrations.connectors import CONNECTORS

# Credential fields per kind, in the order the form shows them (event sources use a write key).
CREDENTIALS: dict[str, tuple[str, ...]] = {
    **{kind: connector.credential_fields for kind, connector in CONNECTORS.items()},
    "segment": (),
}
NOT_SECRET = {"email", "client_id"}
CREDENTIAL_LABELS = {
    "email": "Agent email", "api_token": "API token", "access_token": "Private app access token",
    "client_id": "Client ID", "client_secret": "Client secret", "api_key": "API key",
    "url": "Database URL (SQLAlchemy)",
}  # fmt: skip


class ConnectionForm(FlaskForm):
    name = StringField(
        "Name", validators=[DataRequired("Give the connection a name."), Length(max=80)]
    )
    base_url = URLField(
        "Base URL",
        validators=[Optional(), URL(require_tld=False, message="Enter a full URL (https://...).")],
        description="e.g. https://yourcompany.zendesk.com; HubSpot defaults to api.hubapi.com",
    )
    settings = TextAreaField(
        "Settings (JSON)", default="{}", description="Property names, start_time, per_page, ..."
    )
    interval_minutes = IntegerField(
        "Sync every (minutes)", default=60,
        validators=[NumberRange(5, 7 * 24 * 60, "Between 5 minutes and a week.")],
    )  # fmt: skip
    request_budget = IntegerField(
        "Request budget per run", default=10_000,
        validators=[NumberRange(1, 1_000_000, "Between 1 and 1,000,000.")],
    )  # fmt: skip
    enabled = BooleanField("Enabled", default=True)

    def validate_settings(self, field: TextAreaField) -> None:
        try:
            value = json.loads(field.data or "{}")
        except ValueError as exc:
            raise ValidationError(f"Settings are not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ValidationError("Settings must be a JSON object ({...}).")

    def credential_values(self, kind: str) -> dict[str, str]:
        return {name: self[name].data or "" for name in CREDENTIALS[kind]}


def connection_form(kind: str, **kwargs) -> ConnectionForm:
    """A ConnectionForm with the credential fields of `kind` (blank secrets keep stored ones)."""

    class KindForm(ConnectionForm):
        pass

    for name in CREDENTIALS[kind]:
        label = CREDENTIAL_LABELS.get(name, name)
        field = StringField if name in NOT_SECRET else PasswordField
        setattr(KindForm, name, field(label, validators=[Optional(), Length(max=2000)]))
    return KindForm(**kwargs)


class DeleteForm(FlaskForm):
    confirm = BooleanField(
        "Delete this connection with its sync runs, cursors and review queue",
        validators=[DataRequired("Tick the box to confirm.")],
    )


class ResolveForm(FlaskForm):
    account = StringField(
        "Account",
        validators=[DataRequired("Enter the account's id or domain."), Length(max=253)],
        description="The account id or its domain",
    )
