"""Forms on tasks and playbooks; each error message says what to fix."""

from __future__ import annotations

import datetime as dt

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    StopValidation,
    ValidationError,
)

from cs_platform import clock
from cs_platform.forms import choices
from cs_platform.models import TASK_KINDS
from cs_platform.tasks.services import OUTCOME_LABELS, TASK_PAGE_SIZE

SEVERITY_CHOICES = choices([("high", "High"), ("medium", "Medium"), ("low", "Low")])
MAX_SNOOZE_DAYS = 180
BULK_ACTIONS = {"assign": "Assign", "snooze": "Snooze", "complete": "Complete"}
BULK_LIMIT = TASK_PAGE_SIZE  # a page's worth: what the list lets one tick


class TaskActionForm(FlaskForm):
    """Base of the task forms: where to go back to after the change."""

    next = HiddenField()


class ClaimForm(TaskActionForm):
    """Claim a task: `seen_owner` is the owner the page showed ("" for nobody)."""

    seen_owner = HiddenField()

    def seen_owner_id(self) -> int | None:
        value = self.seen_owner.data or ""
        return int(value) if value.isdecimal() and len(value) < 10 else None


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
        if field.data is not None:  # unparseable: DateField has said so already
            check_snooze_date(field.data)


def check_snooze_date(until: dt.date) -> None:
    """A snooze ends after today and within MAX_SNOOZE_DAYS (one- and many-task snoozes)."""
    today = clock.today()
    if until <= today:
        raise ValidationError("Pick a date after today.")
    if until > today + dt.timedelta(days=MAX_SNOOZE_DAYS):
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


class BulkSnoozeChecks:
    """The checks of a bulk form's snooze fields (`until`, `reason`), which matter only when
    its `action` is "snooze"."""

    action: SelectField

    def validate_until(self, field: DateField) -> None:
        field.errors.clear()  # a blank or unparseable date matters only when snoozing
        if self.action.data != "snooze":
            raise StopValidation
        if field.data is None:
            raise StopValidation("Pick a date (YYYY-MM-DD).")
        check_snooze_date(field.data)

    def validate_reason(self, field: StringField) -> None:
        if self.action.data == "snooze" and not (field.data or "").strip():
            raise ValidationError("Say why the tasks can wait.")


class BulkTaskForm(BulkSnoozeChecks, TaskActionForm):
    """One action on the tasks ticked on the list; only the chosen action's fields are read."""

    task_ids = SelectMultipleField(
        "Tasks",
        coerce=int,
        validate_choice=False,
        validators=[DataRequired("Tick at least one task.")],
    )
    action = SelectField("Action", choices=choices(BULK_ACTIONS.items()))
    owner = SelectField("Owner", coerce=str, default="")
    until = DateField("Snooze until")
    reason = StringField("Why", validators=[Length(max=500, message="At most 500 characters.")])
    outcome = SelectField("Outcome", choices=choices(OUTCOME_LABELS.items()), validate_choice=False)

    def validate_task_ids(self, field: SelectMultipleField) -> None:
        if len(field.data or []) > BULK_LIMIT:
            raise ValidationError(f"Change at most {BULK_LIMIT} tasks at a time.")

    def validate_outcome(self, field: SelectField) -> None:
        if self.action.data == "complete" and field.data not in OUTCOME_LABELS:
            raise ValidationError("Pick an outcome.")


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
