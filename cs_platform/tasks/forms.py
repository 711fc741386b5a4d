"""Forms on tasks and playbooks; each error message says what to fix."""

from __future__ import annotations

import datetime as dt

from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from cs_platform.accounts.forms import choices
from cs_platform.models import TASK_KINDS
from cs_platform.tasks.services import OUTCOME_LABELS

SEVERITY_CHOICES = choices([("high", "High"), ("medium", "Medium"), ("low", "Low")])
MAX_SNOOZE_DAYS = 180


class TaskActionForm(FlaskForm):
    """Base of the task forms: where to go back to after the change."""

    next = HiddenField()


class SnoozeForm(TaskActionForm):
    until = DateField("Snooze until", validators=[InputRequired("Pick a date (YYYY-MM-DD).")])
    reason = StringField(
        "Why",
        validators=[
            DataRequired("Say why the task can wait."),
            Length(max=500, message="Keep the reason under 500 characters."),
        ],
    )

    def validate_until(self, field: DateField) -> None:
        if field.data is None:  # unparseable: DateField has said so already
            return
        today = dt.date.today()
        if field.data <= today:
            raise ValidationError("Pick a date after today.")
        if field.data > today + dt.timedelta(days=MAX_SNOOZE_DAYS):
            raise ValidationError(f"A task can be snoozed for at most {MAX_SNOOZE_DAYS} days.")


class CompleteForm(TaskActionForm):
    outcome = SelectField("Outcome", choices=choices(OUTCOME_LABELS.items()))
    note = StringField(
        "Note", validators=[Optional(), Length(max=500, message="At most 500 characters.")]
    )


class AssignForm(TaskActionForm):
    owner = SelectField("Owner", coerce=str)
    due = DateField("Due", validators=[Optional()])
    severity = SelectField("Priority", choices=SEVERITY_CHOICES)


class NewTaskForm(TaskActionForm):
    title = StringField(
        "Task",
        validators=[
            DataRequired("Say what needs doing."),
            Length(max=200, message="Keep the title under 200 characters."),
        ],
    )
    due = DateField("Due", validators=[Optional()])
    severity = SelectField("Priority", choices=SEVERITY_CHOICES, default="medium")
    details = TextAreaField("Details", validators=[Optional(), Length(max=5000)])


class ApplyPlaybookForm(TaskActionForm):
    playbook = SelectField("Playbook", coerce=int)


class PlaybookForm(FlaskForm):
    name = StringField(
        "Name", validators=[DataRequired("Give the playbook a name."), Length(max=120)]
    )
    description = StringField("Description", validators=[Optional(), Length(max=500)])
    task_kind = SelectField(
        "Suits tasks of kind",
        choices=choices(
            [("", "Any kind")] + [(kind, kind.replace("_", " ")) for kind in TASK_KINDS]
        ),
        default="",
    )
    steps = TextAreaField(
        "Steps (one a line)",
        validators=[DataRequired("List at least one step, one a line."), Length(max=5000)],
    )

    def step_list(self) -> list[str]:
        return [line.strip()[:300] for line in self.steps.data.splitlines() if line.strip()]
