"""Forms of the webhook admin pages."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, StringField, URLField
from wtforms.validators import URL, DataRequired, Length

from cs_platform.forms import MultiCheckboxField
from cs_platform.webhooks.models import EVENT_TYPES


class EndpointForm(FlaskForm):
    url = URLField(
        "Receiver URL",
        validators=[DataRequired(), URL(require_tld=False), Length(max=2000)],
    )
    description = StringField("Description", validators=[Length(max=200)])
    event_types = MultiCheckboxField(
        "Events",
        choices=[SelectChoice(event, event) for event in EVENT_TYPES],
        validators=[DataRequired(message="Choose at least one event.")],
    )
    allow_private = BooleanField("Allow a private or loopback address (an internal receiver)")
