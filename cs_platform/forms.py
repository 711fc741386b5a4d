"""Form pieces every page package shares: select choices, checkbox sets, a one-button form."""

from __future__ import annotations

from collections.abc import Iterable

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectMultipleField, widgets


def choices(pairs: Iterable[tuple[str | int, str]]) -> list[SelectChoice]:
    """Select options from (value, label) pairs (WTForms 3.3 wants SelectChoice objects); an
    int value is for a field that coerces to int."""
    return [SelectChoice(value, label) for value, label in pairs]


class MultiCheckboxField(SelectMultipleField):
    """A set of checkboxes, one per choice."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class ConfirmForm(FlaskForm):
    """An empty form whose CSRF token guards a one-button action (revoke, replay, clear)."""


def first_error(form: FlaskForm) -> str:
    """The first validation message of a form, for the flash line above the page."""
    for field in form:
        if field.errors:
            return f"{field.label.text}: {field.errors[0]}"
    return "please check the form."
