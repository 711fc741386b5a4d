"""Query strings and path ids held to what the database can take: an id past PostgreSQL's
INTEGER range cannot name a row (404, or the filter's default), and a NUL character, which no
text column can hold, is dropped from query-string values instead of reaching a query."""

from __future__ import annotations

from typing import Any

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter

INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class BoundedArgs(ImmutableMultiDict):
    """Request parameters whose int lookups stay in the INTEGER range and whose text has no NUL
    (forms with NUL are refused whole by cs_platform.errors before any view runs)."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key).replace("\x00", "")

    # werkzeug's signature; its overloads (one reads a 2nd positional argument as `type`) do not
    # agree with it, so no plain signature matches them all.
    def get(self, key: str, default: Any = None, type: Any = None) -> Any:  # type: ignore[override]
        value = super().get(key, default, type)
        if type is not None and not in_range(value):
            return default
        return value

    def getlist(self, key: str, type: Any = None) -> list:
        values = [value.replace("\x00", "") for value in super().getlist(key)]
        return values if type is None else converted(values, type)


def is_database_id(text: str) -> bool:
    """Whether `text` is the decimal id of a row (ASCII digits, within INTEGER)."""
    return text.isascii() and text.isdecimal() and int(text) <= INT_MAX


def in_range(value: Any) -> bool:
    return not isinstance(value, int) or INT_MIN <= value <= INT_MAX


def converted(values: list[str], type_: Any) -> list:
    """The values `type_` accepts, as Werkzeug's getlist does, less ints out of range."""
    items = []
    for value in values:
        try:
            item = type_(value)
        except (ValueError, TypeError):
            continue
        if in_range(item):
            items.append(item)
    return items


class BoundedRequest(Request):
    parameter_storage_class = BoundedArgs


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` in routes: at most INTEGER's maximum, so a larger id is a 404, not a 500."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", INT_MAX)
        super().__init__(map, *args, **kwargs)
