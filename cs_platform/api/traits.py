"""Custom account traits through the API: list their definitions, declare one (its type and
label) before the first value arrives, or remove one with every account's value."""

from __future__ import annotations

from typing import Any

from flask import Response
from marshmallow import Schema, fields, validate
from sqlalchemy import delete, func, select

from cs_platform.accounts.traits import KEY_PATTERN, label_for
from cs_platform.api.core import api_blueprint, guarded
from cs_platform.api.enums import enum_field
from cs_platform.api.fields import Text, UtcDateTime
from cs_platform.api.pagination import page_schema
from cs_platform.api.services import api_error, invalid
from cs_platform.audit import record_audit
from cs_platform.extensions import db, rowcount
from cs_platform.models import AccountTrait, TraitDefinition

bp = api_blueprint(
    "traits_api", __name__, "Custom account traits: types and labels.", tag="Account traits"
)
KEY_PARAMETER = {
    "in": "path",
    "name": "key",
    "schema": {"type": "string", "pattern": f"^{KEY_PATTERN.pattern}$"},
}


class TraitDefinitionSchema(Schema):
    key = fields.String(required=True, dump_only=True, metadata={"example": "tier"})
    label = fields.String(required=True, dump_only=True)
    type = enum_field("TraitType", required=True, dump_only=True)
    description = fields.String(required=True, dump_only=True)
    accounts = fields.Integer(
        required=True, dump_only=True, metadata={"description": "Accounts with a value."}
    )
    created_at = UtcDateTime(required=True, dump_only=True)


class TraitDefinitionWriteSchema(Schema):
    type = enum_field("TraitType", required=True)
    label = Text(validate=validate.Length(1, 120), metadata={"description": "Default: from key."})
    description = Text(load_default="", validate=validate.Length(max=500))


def definitions_with_counts(key: str | None = None) -> list[dict[str, Any]]:
    """Trait definitions (all, or the one with `key`) with how many accounts hold a value."""
    counts = (
        select(AccountTrait.key, func.count().label("accounts"))
        .group_by(AccountTrait.key)
        .subquery()
    )
    statement = (
        select(TraitDefinition, func.coalesce(counts.c.accounts, 0))
        .outerjoin(counts, counts.c.key == TraitDefinition.key)
        .order_by(TraitDefinition.key)
    )
    if key is not None:
        statement = statement.where(TraitDefinition.key == key)
    columns = ("key", "label", "type", "description", "created_at")
    return [
        {**{name: getattr(row, name) for name in columns}, "accounts": accounts}
        for row, accounts in db.session.execute(statement)
    ]


@bp.route("/account-traits", methods=["GET"])
@guarded(bp, "read:scores")
@bp.response(200, page_schema(TraitDefinitionSchema))
def list_account_traits():
    """Every custom trait with its type, label and how many accounts hold a value (at most
    200, so one page)."""
    return {"data": definitions_with_counts(), "next_cursor": None}


def checked_key(key: str) -> str:
    """The path's key, or 422 naming it."""
    if not KEY_PATTERN.fullmatch(key):
        invalid("path", "key", f"must match {KEY_PATTERN.pattern}")
    return key


@bp.route("/account-traits/<key>", methods=["PUT"], parameters=[KEY_PARAMETER])
@guarded(bp, "write:accounts")
@bp.arguments(TraitDefinitionWriteSchema)
@bp.response(200, TraitDefinitionSchema, description="The trait existed and was changed.")
@bp.alt_response(201, schema=TraitDefinitionSchema, description="The trait was declared.")
def upsert_account_trait(body: dict[str, Any], key: str):
    """Declare a trait (e.g. a date sent as text) or change its label; its type can change only
    while no account holds a value."""
    definition = db.session.get(TraitDefinition, checked_key(key))
    created = definition is None
    if definition is None:
        definition = TraitDefinition(key=key, label=label_for(key), type=body["type"])
        db.session.add(definition)
    elif body["type"] != definition.type and holders(key):
        api_error(409, f"trait {key} is a {definition.type} held by accounts; remove it first")
    definition.type = body["type"]
    definition.label = body.get("label", definition.label)
    definition.description = body["description"]
    record_audit("account_trait.declared", key, {"type": body["type"]})
    db.session.commit()
    return definitions_with_counts(key)[0], 201 if created else 200


def holders(key: str) -> int:
    """How many accounts hold a value of the trait."""
    return db.session.execute(select(func.count()).where(AccountTrait.key == key)).scalar_one()


@bp.route("/account-traits/<key>", methods=["DELETE"], parameters=[KEY_PARAMETER])
@guarded(bp, "write:accounts", not_found=True)
@bp.response(204)
def delete_account_trait(key: str):
    """Remove a trait and every account's value of it."""
    definition = db.session.get(TraitDefinition, checked_key(key))
    if definition is None:
        api_error(404, f"no trait {key}")
    removed = rowcount(db.session.execute(delete(AccountTrait).where(AccountTrait.key == key)))
    db.session.delete(definition)
    record_audit("account_trait.removed", key, {"values_removed": removed})
    db.session.commit()
    return Response(status=204)
