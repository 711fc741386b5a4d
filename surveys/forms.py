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
from wtforms.validators import (
    DataRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from cs_platform.models import CONTACT_ROLES, LIFECYCLE_STAGES, PLANS, SEGMENTS
from surveys.models import EVENTS, SURVEY_KINDS, TRIGGERS
from surveys.schedule import WEEKDAYS, Preset, ScheduleError, known_zone, preset_of
from surveys.texts import LOCALES


def choices(values) -> list[SelectChoice]:
    return [SelectChoice(value, value.replace("_", " ")) for value in values]


class CheckboxesField(SelectMultipleField):
    """A multiple choice as a list of checkboxes: no Ctrl-click needed."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


SCHEDULES = [
    SelectChoice("daily", "Daily"),
    SelectChoice("weekly", "Weekly"),
    SelectChoice("monthly", "Monthly"),
    SelectChoice("quarterly", "Quarterly (Jan, Apr, Jul, Oct)"),
    SelectChoice("cron", "Crontab (advanced)"),
]
HOURS = [SelectChoice(hour, f"{hour:02d}:00") for hour in range(24)]
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAY_CHOICES = [
    SelectChoice(day, name) for day, name in zip(WEEKDAYS, WEEKDAY_NAMES, strict=True)
]
DAYS = [SelectChoice(day, str(day)) for day in range(1, 29)]


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
    # Without a `schedule` in the POST (an older form or script), the crontab field rules.
    schedule = SelectField("Repeat", choices=SCHEDULES, default="cron")
    schedule_hour = SelectField("At", coerce=int, choices=HOURS, default=6)
    schedule_weekday = SelectField("On (weekly)", choices=WEEKDAY_CHOICES, default="mon")
    schedule_day = SelectField("On day (monthly, quarterly)", coerce=int, choices=DAYS, default=1)
    cron = StringField("Crontab (advanced)", validators=[Optional(), Length(max=64)])
    # Empty (or left out by an older form or script): UTC, what schedules meant before.
    timezone = StringField(
        "Time zone of the schedule",
        default="UTC",
        filters=[lambda name: (name or "").strip() or "UTC"],
        validators=[Length(max=64)],
    )
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
    segments = CheckboxesField("Segments", choices=choices(SEGMENTS))
    # Churned accounts are never surveyed, so they are not offered.
    lifecycle_stages = CheckboxesField(
        "Lifecycle stages", choices=choices(s for s in LIFECYCLE_STAGES if s != "churned")
    )
    plans = CheckboxesField("Plans", choices=choices(PLANS))
    roles = CheckboxesField("Contact roles", choices=choices(CONTACT_ROLES))

    def validate_timezone(self, field: StringField) -> None:
        try:
            known_zone(field.data)
        except ScheduleError as error:
            raise ValidationError(str(error)) from None

    def show_schedule(self, cron: str | None) -> None:
        """Show a saved rule as its preset when it is one, else in the crontab field; without a
        rule (a new campaign), offer weekly on Monday."""
        preset = preset_of(cron) or (None if cron else Preset("weekly"))
        if preset is None:
            self.schedule.data = "cron"
            return
        self.schedule.data = preset.kind
        self.schedule_hour.data, self.schedule_weekday.data = preset.hour, preset.weekday
        self.schedule_day.data = preset.day
        self.cron.data = preset.cron()

    def schedule_cron(self) -> str | None:
        """The crontab rule that the chosen preset, or the crontab field, stands for."""
        if self.schedule.data == "cron":
            return (self.cron.data or "").strip() or None
        preset = Preset(
            self.schedule.data,
            self.schedule_hour.data,
            self.schedule_weekday.data,
            self.schedule_day.data,
        )
        return preset.cron()
