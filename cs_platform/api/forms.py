"""Forms of the API key admin pages."""

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectMultipleField, StringField, widgets
from wtforms.validators import DataRequired, Length

from cs_platform.auth.services import API_SCOPES

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


class MultiCheckboxField(SelectMultipleField):
    """A set of checkboxes, one per choice."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class ApiKeyForm(FlaskForm):
    name = StringField("What is the key for?", validators=[DataRequired(), Length(max=120)])
    scopes = MultiCheckboxField(
        "Scopes",
        choices=[SelectChoice(scope, f"{scope} — {SCOPE_HELP[scope]}") for scope in API_SCOPES],
        validators=[DataRequired(message="Choose at least one scope.")],
    )


class ConfirmForm(FlaskForm):
    """An empty form whose CSRF token guards a one-button action (revoke, replay)."""
