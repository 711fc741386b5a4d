"""Keyset (cursor) pagination: pages follow a unique sort key, so rows added or changed while a
client pages never shift, repeat or skip the rows it has not seen yet."""

from __future__ import annotations

from functools import cache
from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from cs_platform.api.fields import encode_cursor
from cs_platform.extensions import db

DEFAULT_PAGE_SIZE = 100
# Larger `limit` values are refused with 422 (documented in docs/api.md and the OpenAPI document).
MAX_PAGE_SIZE = 500


class PageArgs(Schema):
    """Query arguments every list endpoint takes; subclasses add filters and a typed cursor."""

    limit = fields.Integer(
        load_default=DEFAULT_PAGE_SIZE,
        validate=validate.Range(1, MAX_PAGE_SIZE),
        metadata={"description": f"Rows per page, 1 to {MAX_PAGE_SIZE} (default 100)."},
    )


@cache
def page_schema(item: type[Schema]) -> type[Schema]:
    """The envelope of one page of `item` rows: {"data": [...], "next_cursor": str | null}."""
    name = item.__name__.removesuffix("Schema")
    return type(
        f"{name}PageSchema",
        (Schema,),
        {
            "data": fields.List(fields.Nested(item), required=True),
            "next_cursor": fields.String(
                required=True,
                allow_none=True,
                metadata={"description": "Pass as `cursor` for the next page; null on the last."},
            ),
        },
    )


def keyset_page(
    statement: Select, keys: tuple[InstrumentedAttribute, ...], args: dict[str, Any]
) -> dict[str, Any]:
    """One page of `statement` ordered by `keys` (unique together), after `args["cursor"]`."""
    limit = args["limit"]
    if args.get("cursor") is not None:
        statement = statement.where(tuple_(*keys) > tuple_(*args["cursor"]))
    rows = db.session.scalars(statement.order_by(*keys).limit(limit + 1)).all()
    if len(rows) <= limit:
        return {"data": rows, "next_cursor": None}
    last = rows[limit - 1]
    return {
        "data": rows[:limit],
        "next_cursor": encode_cursor([getattr(last, key.key) for key in keys]),
    }
