"""Forms of the user-management page."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from cs_platform.auth.services import API_SCOPES, MIN_PASSWORD_LENGTH
from cs_platform.forms import MultiCheckboxField, choices

ROLE_LABELS = {"csm": "CSM", "team_lead": "Team lead", "admin": "Admin", "viewer": "Viewer"}
ROLE_CHOICES = choices(ROLE_LABELS.items())


class NewUserForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Give an email."),
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="That is not an email address."),
            Length(max=254),
        ],
    )
    name = StringField("Name", validators=[DataRequired("Give a name."), Length(max=120)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="csm")
    password = PasswordField(
        "Initial password",
        validators=[
            DataRequired("Give an initial password."),
            Length(
                min=MIN_PASSWORD_LENGTH,
                message=f"The password needs at least {MIN_PASSWORD_LENGTH} characters.",
            ),
        ],
    )


class ChangeUserForm(FlaskForm):
    """A user's role, status, team lead ("" for none; choices set from the team leads) and IANA
    time zone ("" for the business time zone)."""

    role = SelectField("Role", choices=ROLE_CHOICES)
    status = SelectField("Status", choices=choices([("active", "Active"), ("off", "Deactivated")]))
    team_lead = SelectField("Team lead", coerce=str, default="")
    timezone = StringField(
        "Time zone", validators=[Optional(), Length(max=64, message="At most 64 characters.")]
    )

    def validate_timezone(self, field: StringField) -> None:
        name = (field.data or "").strip()
        if name and not is_time_zone(name):
            raise ValidationError(f"“{name}” is not an IANA time zone (e.g. Europe/Paris).")


def is_time_zone(name: str) -> bool:
    """Whether `name` is a time zone zoneinfo knows ("Europe/Paris", "UTC")."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


SCOPE_HELP = {
    "read:scores": "accounts, health scores, churn risk, tasks",
    "read:surveys": "survey responses and NPS/CSAT/CES metrics",
    "read:events": "every webhook event, survey comments included (to catch up)",
    "write:accounts": "create and update accounts' CRM fields",
    "read:contacts": "contacts: emails, names, roles, unsubscribes and bounces",
    "write:contacts": "create and update contacts",
    "send:surveys": "ask a contact for feedback: invite them to a campaign's survey",
    "manage:webhooks": "register, change and remove webhook endpoints",
    "admin": "everything above",
}


class ApiKeyForm(FlaskForm):
    name = StringField("What is the key for?", validators=[DataRequired(), Length(max=120)])
    scopes = MultiCheckboxField(
        "Scopes",
        choices=choices((scope, f"{scope} — {SCOPE_HELP[scope]}") for scope in API_SCOPES),
        validators=[DataRequired(message="Choose at least one scope.")],
    )
