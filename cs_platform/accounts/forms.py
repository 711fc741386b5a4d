"""Forms on the account pages; each error message says what to fix."""

from __future__ import annotations

import datetime as dt

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from cs_platform import clock
from cs_platform.accounts.services import OUTREACH_CHANNELS
from cs_platform.forms import choices

MAX_OVERRIDE_DAYS = 365


class NoteForm(FlaskForm):
    body = TextAreaField(
        "Note",
        validators=[
            DataRequired("A note needs some text."),
            Length(max=5000, message="A note can have at most 5000 characters."),
        ],
    )


class OutreachForm(FlaskForm):
    channel = SelectField("Channel", choices=choices(OUTREACH_CHANNELS.items()))
    contact = StringField("With", validators=[Optional(), Length(max=200)])
    summary = TextAreaField(
        "What was said",
        validators=[
            DataRequired("Say briefly what was discussed."),
            Length(max=2000, message="Keep the summary under 2000 characters."),
        ],
    )


class OverrideForm(FlaskForm):
    band = SelectField(
        "Band", choices=choices([("green", "Green"), ("yellow", "Yellow"), ("red", "Red")])
    )
    reason = StringField(
        "Reason",
        validators=[
            DataRequired("Give a reason, so others know why the band differs from the model."),
            Length(min=3, max=500, message="The reason needs 3 to 500 characters."),
        ],
    )
    expires_on = DateField(
        "Until",
        validators=[InputRequired("Pick the date the override ends (YYYY-MM-DD).")],
    )

    def validate_expires_on(self, field: DateField) -> None:
        if field.data is None:  # unparseable: DateField has said so already
            return
        today = clock.today()
        if field.data <= today:
            raise ValidationError("The override must end after today.")
        if field.data > today + dt.timedelta(days=MAX_OVERRIDE_DAYS):
            raise ValidationError("An override can last at most a year.")
