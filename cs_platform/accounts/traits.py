"""Custom account traits: their types, how sent values are checked and stored, and filters.

A trait (e.g. "tier": "gold", "licences_bought": 250, "sso": true, "go_live": "2026-03-01") is
typed by its TraitDefinition: declared through the API beforehand, or fixed by the first value
written (a JSON boolean is a boolean, a number a number, a "YYYY-MM-DD" string a date, any other
string a string). Later values of another type are refused, so a filter on a number always
compares numbers. A null value removes the trait from the account.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, select

from cs_platform.date_range import RANGE_TEXT, in_range
from cs_platform.extensions import db
from cs_platform.models import Account, AccountTrait, TraitDefinition

KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
CONTROL = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f]")
MAX_DEFINITIONS = 200
MAX_TEXT = 1000
MAX_NUMBER = 1e15
COLUMNS = {
    "string": "value_text",
    "number": "value_number",
    "boolean": "value_bool",
    "date": "value_date",
}
OPERATORS = {
    "eq": "__eq__",
    "ne": "__ne__",
    "gt": "__gt__",
    "gte": "__ge__",
    "lt": "__lt__",
    "lte": "__le__",
}
ORDERED_TYPES = ("number", "date")
FILTER_HELP = (
    "key:value, or key:op:value with op one of eq, ne, gt, gte, lt, lte (gt..lte for number "
    "and date traits); ne matches accounts that have the trait with another value"
)


class TraitError(ValueError):
    """Trait input that cannot be stored; `errors` maps each trait key to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = errors


def infer_type(value: Any) -> str:
    """The type a first value gives a new trait."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str) and ISO_DAY.fullmatch(value):
        return "date"
    return "string"


def coerce(kind: str, value: Any) -> str | float | bool | dt.date:
    """The value as the trait's type stores it; ValueError with a readable message if it is
    not one."""
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if kind == "number":
        return _number(value)
    if not isinstance(value, str):
        raise ValueError(f"must be a {'date' if kind == 'date' else 'string'}")
    return _day(value) if kind == "date" else _text(value)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    if not math.isfinite(value) or abs(value) > MAX_NUMBER:
        raise ValueError(f"must be a finite number within ±{MAX_NUMBER:.0e}")
    return float(value)


def _day(value: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value) if ISO_DAY.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None:
        raise ValueError("must be a date as YYYY-MM-DD")
    if not in_range(day):
        raise ValueError(f"must be a date {RANGE_TEXT}")
    return day


def _text(value: str) -> str:
    if len(value) > MAX_TEXT:
        raise ValueError(f"must be at most {MAX_TEXT} characters")
    if CONTROL.search(value):
        raise ValueError("must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid UTF-8 text") from exc
    return value


def label_for(key: str) -> str:
    """A readable label for a key nobody labelled: "csm_region" -> "Csm region"."""
    return key.replace("_", " ").capitalize()


def check_key(key: str) -> None:
    """ValueError unless `key` is a trait key: lower-case letters, digits, underscores."""
    if not KEY_PATTERN.fullmatch(key):
        raise ValueError(f"trait keys must match {KEY_PATTERN.pattern}")


def all_definitions() -> dict[str, TraitDefinition]:
    """Every trait definition by key (one query)."""
    return {row.key: row for row in db.session.scalars(select(TraitDefinition))}


class TraitWriter:
    """Writes sent traits onto accounts, defining new keys on first use; one per request, so
    that a batch reads the definitions once."""

    def __init__(self) -> None:
        self.definitions = all_definitions()
        self.undefined: dict[str, str] = {}  # new keys of the last prepared write, by type

    def prepare(self, sent: Mapping[str, Any]) -> dict[str, Any]:
        """The sent traits as stored values (None: remove); TraitError naming each bad one.
        New keys are defined by `apply`, so a write refused for any reason defines nothing."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        new: dict[str, str] = {}
        for key, value in sent.items():
            try:
                values[key] = self._value(key, value, new)
            except ValueError as error:
                errors[key] = str(error)
        if errors:
            raise TraitError(errors)
        self.undefined = new
        return values

    def _value(self, key: str, value: Any, new: dict[str, str]) -> Any:
        check_key(key)
        if value is None:
            return None
        definition = self.definitions.get(key)
        if definition is None:
            if len(self.definitions) + len(new) >= MAX_DEFINITIONS:
                raise ValueError(f"at most {MAX_DEFINITIONS} traits can be defined")
            new[key] = infer_type(value)
        kind = definition.type if definition else new[key]
        try:
            return coerce(kind, value)
        except ValueError as error:
            raise ValueError(f"is a {kind} trait: {error}") from error

    def define_undefined(self) -> None:
        """Define the new keys of the last prepared write (for set-wise writers of traits)."""
        self._define(self.undefined)

    def _define(self, new: dict[str, str]) -> None:
        for key, kind in new.items():
            definition = TraitDefinition(key=key, label=label_for(key), type=kind)
            db.session.add(definition)
            self.definitions[key] = definition

    def apply(self, account: Account, values: Mapping[str, Any]) -> bool:
        """Set prepared values on the account, defining the new keys; whether anything
        changed."""
        self._define(self.undefined)
        self.undefined = {}
        current = {trait.key: trait for trait in account.traits}
        changed = False
        for key, value in values.items():
            trait = current.get(key)
            if value is None:
                if trait is not None:
                    account.traits.remove(trait)
                    changed = True
                continue
            if trait is None:
                trait = AccountTrait(key=key)
                account.traits.append(trait)
            if trait.value != value:
                setattr(trait, COLUMNS[self.definitions[key].type], value)
                changed = True
        return changed


def parse_filter(spec: str, definitions: Mapping[str, TraitDefinition]) -> ColumnElement:
    """A WHERE clause on accounts for one `trait` filter ("tier:gold", "seats_bought:gte:50");
    ValueError with a readable message if it names no trait or a wrong value."""
    key, _, rest = spec.partition(":")
    operator, separator, operand = rest.partition(":")
    if operator not in OPERATORS or not separator:
        operator, operand = "eq", rest
    definition = definitions.get(key)
    if definition is None:
        raise ValueError(f"no trait {key!r} is defined ({FILTER_HELP})")
    if operator not in ("eq", "ne") and definition.type not in ORDERED_TYPES:
        raise ValueError(
            f"{operator} compares number and date traits; {key} is a {definition.type}"
        )
    value = _filter_value(definition.type, operand)
    column = getattr(AccountTrait, COLUMNS[definition.type])
    matching = select(AccountTrait.account_id).where(
        AccountTrait.key == key, getattr(column, OPERATORS[operator])(value)
    )
    return Account.id.in_(matching)


def _filter_value(kind: str, text: str) -> Any:
    """A filter's text read as the trait's type."""
    try:
        if kind == "number":
            return coerce(kind, float(text))
        if kind == "boolean":
            return {"true": True, "false": False}[text]
        return coerce(kind, text)
    except (KeyError, ValueError) as error:
        message = str(error) if isinstance(error, ValueError) else "must be true or false"
        raise ValueError(f"{text!r} for a {kind} trait: {message}") from error


def trait_clauses(specs: list[str]) -> list[ColumnElement]:
    """WHERE clauses for every `trait` filter; ValueError naming the first bad one."""
    if not specs:
        return []
    definitions = all_definitions()
    return [parse_filter(spec, definitions) for spec in specs]
