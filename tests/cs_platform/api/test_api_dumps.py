"""A schema's compiled dump answers what the schema's own dump answers, on the rows the API
reads: scores with and without a band override, nulls, decimals, dates and nested drivers and
changes (some keys absent)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from marshmallow import Schema, fields, post_dump

from cs_platform.api.dumps import compiled_dump
from cs_platform.api.schemas import AccountHealthSchema, HealthScoreSchema
from cs_platform.api.services import Override, with_band_in_force

DRIVERS = [
    {"feature": "active_users_change_30d", "value": -0.4, "contribution": 0.8,
     "sentence": "Active users down 40%"},
    {"feature": "open_tickets", "value": 3, "contribution": Decimal("0.25"), "sentence": "3 open"},
    {"feature": "plan", "value": "growth", "contribution": 0, "sentence": "Growth plan"},
    {"feature": "last_login", "value": None, "contribution": -1},  # no sentence: left out
]  # fmt: skip
CHANGES = {
    "7": {
        "since": "2026-11-27",
        "previous_score": 61,
        "delta": Decimal("-4.5"),
        "parts": [
            {"feature": "open_tickets", "points": -3.0, "sentence": "3 open", "context": True},
            {"feature": "active_users_change_30d", "points": -1.5, "sentence": "Down"},
        ],
    },
}


def score_row(**changed: Any) -> dict[str, Any]:
    """A health score as services.latest_health reads it (the driver's values)."""
    return {
        "id": 41,
        "account_id": 7,
        "scored_on": dt.date(2026, 12, 4),
        "score": 56.5,
        "band": "yellow",
        "method": "model",
        "churn_probability": 0.1834,
        "model_version_id": 3,
        "drivers": DRIVERS,
        "context": [{"feature": "arr", "value": 125000.5, "contribution": 0.1, "sentence": "ARR"}],
        "changes": CHANGES,
        "updated_at": dt.datetime(2026, 12, 4, 2, 15, 30, 123456),
        **changed,
    }


ROWS = {
    "override in force": with_band_in_force(
        score_row(), Override("red", "Champion left", dt.date(2027, 1, 31))
    ),
    "no override": with_band_in_force(score_row(), None),
    "an override without a reason": with_band_in_force(
        score_row(), Override("green", None, dt.date(2026, 12, 31))
    ),
    "cold start: nulls, no changes": with_band_in_force(
        score_row(
            method="scorecard",
            churn_probability=None,
            model_version_id=None,
            drivers=[],
            context=[],
            changes={},
        ),
        None,
    ),
    "decimals and an aware time": with_band_in_force(
        score_row(
            score=Decimal("72.25"),
            churn_probability=Decimal("0.05"),
            updated_at=dt.datetime(2026, 12, 4, 3, 0, tzinfo=dt.UTC),
            changes={"30": CHANGES["7"], "7": {"since": "2026-11-27", "parts": []}},
        ),
        None,
    ),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_the_compiled_dump_of_a_score_equals_the_schemas(row):
    schema = AccountHealthSchema()
    assert compiled_dump(schema)(row) == schema.dump(row)


def test_a_many_schema_dumps_a_list_of_rows_as_it_does():
    schema = HealthScoreSchema(many=True)
    rows = [score_row(), score_row(id=42, churn_probability=None, changes={})]
    assert compiled_dump(schema)(rows) == schema.dump(rows)


class Upper(fields.String):
    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else str(value).upper()


class WithOwnFieldSchema(Schema):
    name = Upper()
    nickname = fields.String(attribute="profile.nick")
    seen = fields.Boolean()
    created = fields.DateTime()
    tags = fields.List(Upper())
    plan = fields.String(dump_default="starter")


class HookedSchema(Schema):
    name = fields.String()

    @post_dump
    def shout(self, data: dict, **_: Any) -> dict:
        return {key: value.upper() for key, value in data.items()}


def test_fields_of_other_kinds_serialize_themselves():
    schema = WithOwnFieldSchema()
    obj = {
        "name": "ada",
        "profile": {"nick": "countess"},
        "seen": 1,
        "created": dt.datetime(2026, 1, 2, 3, 4, 5),
        "tags": ["a", None],
    }
    assert (
        compiled_dump(schema)(obj)
        == schema.dump(obj)
        == {
            "name": "ADA",
            "nickname": "countess",
            "seen": True,
            "created": "2026-01-02T03:04:05",
            "tags": ["A", None],
            "plan": "starter",
        }
    )


def test_a_schema_with_dump_hooks_dumps_itself():
    schema = HookedSchema()
    assert compiled_dump(schema) == schema.dump
    assert compiled_dump(schema)({"name": "ada"}) == {"name": "ADA"}
