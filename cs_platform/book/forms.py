"""Forms of saved views and of bulk work on the risk list; each error says what to fix."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length, ValidationError

from cs_platform.accounts.risk import PAGE_SIZE
from cs_platform.forms import choices
from cs_platform.tasks.forms import BulkSnoozeChecks

BULK_ACTIONS = {
    "assign": "Assign owner",
    "playbook": "Apply playbook",
    "snooze": "Snooze risk tasks",
    "list": "Add to list",
}
BULK_LIMIT = PAGE_SIZE  # a page's worth: what the list lets one tick


def view_name_field() -> StringField:
    return StringField(
        "View name",
        validators=[
            DataRequired("Give the view a name."),
            Length(max=120, message="Keep the name under 120 characters."),
        ],
    )


class SaveViewForm(FlaskForm):
    """Save the risk list's current filters under a name; `replace` confirms overwriting."""

    name = view_name_field()
    query = HiddenField()
    replace = BooleanField("Replace the view of this name")


class RenameViewForm(FlaskForm):
    name = view_name_field()


class ShareViewForm(FlaskForm):
    shared = BooleanField("Shared with everyone")


class AccountSelectionForm(FlaskForm):
    """Accounts ticked on a page, and where to go back to."""

    account_ids = SelectMultipleField(
        "Accounts",
        coerce=int,
        validate_choice=False,
        validators=[DataRequired("Tick at least one account.")],
    )
    next = HiddenField()

    def validate_account_ids(self, field: SelectMultipleField) -> None:
        if len(field.data or []) > BULK_LIMIT:
            raise ValidationError(f"Change at most {BULK_LIMIT} accounts at a time.")


class BulkAccountsForm(BulkSnoozeChecks, AccountSelectionForm):
    """One action on the accounts ticked on the risk list; only its own fields are read."""

    action = SelectField("Action", choices=choices(BULK_ACTIONS.items()))
    owner = SelectField("New owner", coerce=str, default="", validate_choice=False)
    playbook = SelectField("Playbook", coerce=str, default="", validate_choice=False)
    until = DateField("Snooze until")
    reason = StringField("Why", validators=[Length(max=500, message="At most 500 characters.")])
    list_id = SelectField("List", coerce=str, default="", validate_choice=False)
    new_list = StringField(
        "Or a new list", validators=[Length(max=120, message="At most 120 characters.")]
    )

    def validate_owner(self, field: SelectField) -> None:
        if self.action.data == "assign" and not (field.data or "").isdecimal():
            raise ValidationError("Pick the new owner.")

    def validate_playbook(self, field: SelectField) -> None:
        if self.action.data == "playbook" and not (field.data or "").isdecimal():
            raise ValidationError("Pick a playbook.")

    def validate_list_id(self, field: SelectField) -> None:
        if self.action.data != "list" or (self.new_list.data or "").strip():
            return
        if not (field.data or "").isdecimal():
            raise ValidationError("Pick a list, or type the name of a new one.")
