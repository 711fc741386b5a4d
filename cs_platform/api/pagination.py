"""Keyset (cursor) pagination: pages follow a unique sort key, so rows added or changed while a
client pages never shift, repeat or skip the rows it has not seen yet."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import Row, Select, tuple_
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


def first_entity(row: Row) -> Any:
    """The row's first entity: the model that select(Model) pages list."""
    return row[0]


def keyset_page(
    statement: Select,
    keys: tuple[InstrumentedAttribute, ...],
    args: dict[str, Any],
    item: Callable[[Row], Any] = first_entity,
) -> dict[str, Any]:
    """One page of `statement` ordered by `keys` (unique together), after `args["cursor"]`;
    `item` makes a result row an item of the page (by default, the row's first entity)."""
    limit = args["limit"]
    if args.get("cursor") is not None:
        statement = statement.where(tuple_(*keys) > tuple_(*args["cursor"]))
    keyed = statement.add_columns(*keys).order_by(*keys).limit(limit + 1)
    rows = db.session.execute(keyed).all()
    data = [item(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return {"data": data, "next_cursor": None}
    return {"data": data, "next_cursor": encode_cursor(list(rows[limit - 1][-len(keys) :]))}
