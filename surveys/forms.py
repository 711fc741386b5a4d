"""Forms of the survey admin pages; each error message says what to fix."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from cs_platform.models import CONTACT_ROLES, LIFECYCLE_STAGES, PLANS, SEGMENTS
from surveys.models import EVENTS, SURVEY_KINDS, TRIGGERS
from surveys.texts import LOCALES


def choices(values) -> list[SelectChoice]:
    return [SelectChoice(value, value.replace("_", " ")) for value in values]


class SurveyForm(FlaskForm):
    name = StringField(
        "Name", validators=[DataRequired("Give the survey a name."), Length(max=120)]
    )
    kind = SelectField("Kind", choices=choices(SURVEY_KINDS))
    default_locale = SelectField("Default language", choices=choices(LOCALES))
    product_name = StringField("Product name", validators=[DataRequired(), Length(max=120)])
    sender_name = StringField("Sender name", validators=[DataRequired(), Length(max=120)])
    brand_colour = StringField(
        "Brand colour",
        validators=[Regexp(r"^#[0-9a-fA-F]{6}$", message="Use a colour like #3354d1.")],
    )
    question_en = StringField("Question (en)", validators=[Optional(), Length(max=300)])
    question_de = StringField("Question (de)", validators=[Optional(), Length(max=300)])
    question_fr = StringField("Question (fr)", validators=[Optional(), Length(max=300)])
    question_es = StringField("Question (es)", validators=[Optional(), Length(max=300)])
    follow_up_detractor = StringField("Follow-up for detractors", validators=[Length(max=300)])
    follow_up_passive = StringField("Follow-up for passives", validators=[Length(max=300)])
    follow_up_promoter = StringField("Follow-up for promoters", validators=[Length(max=300)])


class CampaignForm(FlaskForm):
    name = StringField(
        "Name", validators=[DataRequired("Give the campaign a name."), Length(max=120)]
    )
    survey_id = SelectField("Survey", coerce=int)
    trigger = SelectField("Trigger", choices=choices(TRIGGERS))
    cron = StringField("Schedule (crontab, UTC)", validators=[Optional(), Length(max=64)])
    period_days = IntegerField(
        "Invite each contact once every (days)", default=90, validators=[NumberRange(1, 3650)]
    )
    event = SelectField("Event", choices=[SelectChoice("", "-"), *choices(EVENTS)])
    delay_hours = IntegerField(
        "Delay after the event (hours)", default=24, validators=[NumberRange(0, 24 * 60)]
    )
    send_at = DateTimeLocalField("Send at (UTC, one-off)", validators=[Optional()])
    window_start_hour = IntegerField(
        "Send window from (hour)", default=9, validators=[NumberRange(0, 23)]
    )
    window_end_hour = IntegerField("to (hour)", default=11, validators=[NumberRange(1, 24)])
    weekdays_only = BooleanField("Weekdays only", default=True)
    throttle_days = IntegerField(
        "Campaign throttle (days)", default=90, validators=[NumberRange(0, 3650)]
    )
    sample_percent = IntegerField(
        "Sample (% of the audience asked each period)",
        default=100,
        validators=[
            # NumberRange fills in %(min)s and %(max)s, so a percent sign is written %%.
            NumberRange(
                1, 100, "Ask between %(min)s and %(max)s %% of the audience (100: everyone)."
            )
        ],
    )
    daily_cap = IntegerField(
        "Daily cap (drip)",
        validators=[
            Optional(),
            NumberRange(1, message="Send at least 1 a day, or leave it empty for no cap."),
        ],
    )
    spread_days = IntegerField(
        "Spread each run over (sending days)",
        validators=[
            Optional(),
            NumberRange(1, 365, "Spread over 1 to 365 days, or leave it empty to send at once."),
        ],
    )
    reminders = IntegerField("Reminders", default=1, validators=[NumberRange(0, 5)])
    reminder_after_days = IntegerField(
        "Remind after (days)", default=5, validators=[NumberRange(1, 60)]
    )
    expiry_days = IntegerField(
        "Links expire after (days)", default=30, validators=[NumberRange(1, 365)]
    )
    segments = SelectMultipleField("Segments", choices=choices(SEGMENTS))
    lifecycle_stages = SelectMultipleField("Lifecycle stages", choices=choices(LIFECYCLE_STAGES))
    plans = SelectMultipleField("Plans", choices=choices(PLANS))
    roles = SelectMultipleField("Contact roles", choices=choices(CONTACT_ROLES))
