"""Trait typing rules: what a first value makes a trait, what later values must be."""

from __future__ import annotations

import datetime as dt

import pytest

from cs_platform.accounts import traits
from cs_platform.extensions import db
from cs_platform.models import TraitDefinition


@pytest.mark.parametrize(
    ("value", "kind"),
    [(True, "boolean"), (3, "number"), (2.5, "number"), ("2026-03-01", "date"), ("gold", "string")],
)
def test_a_first_value_gives_a_new_trait_its_type(value, kind):
    assert traits.infer_type(value) == kind


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        ("boolean", False, False),
        ("number", 7, 7.0),
        ("date", "2026-03-01", dt.date(2026, 3, 1)),
        ("string", "tab\tand\nnewline", "tab\tand\nnewline"),
    ],
)
def test_values_are_stored_as_their_type(kind, value, stored):
    assert traits.coerce(kind, value) == stored


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("string", "bell\x07", "must not contain control characters"),
        ("string", "\ud800", "must be valid UTF-8 text"),
        ("number", float("nan"), "must be a finite number"),
        ("date", "2026-02-30", "must be a date as YYYY-MM-DD"),
    ],
)
def test_values_a_column_cannot_hold_are_refused(kind, value, message):
    with pytest.raises(ValueError, match=message):
        traits.coerce(kind, value)


def test_a_key_nobody_labelled_reads_as_words():
    assert traits.label_for("csm_region") == "Csm region"


def test_no_trait_is_defined_beyond_the_cap(app, monkeypatch):
    monkeypatch.setattr(traits, "MAX_DEFINITIONS", 2)
    db.session.add(TraitDefinition(key="tier", label="Tier", type="string"))
    db.session.flush()
    writer = traits.TraitWriter()

    with pytest.raises(traits.TraitError) as refused:
        writer.prepare({"region": "emea", "size": 3})

    assert refused.value.errors["size"] == "at most 2 traits can be defined"
    assert db.session.get(TraitDefinition, "region") is None  # nothing defined from a bad write
