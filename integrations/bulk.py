"""Bulk upserts and set membership that stay fast for thousands of rows per call.

On PostgreSQL a page of rows travels as one JSON parameter (`jsonb_populate_recordset`) into one
`INSERT ... ON CONFLICT`, and `IN` lists become `= ANY(array)`: no per-row statements, no
thousands of bind parameters to compile. SQLite (embedded use, tests) gets the plain forms.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, String, Table, any_, bindparam, func, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import NullType

from cs_platform.extensions import db

CHUNK = 1000


def is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def in_values(column: ColumnElement, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN values`, as one array parameter on PostgreSQL."""
    values = list(values)
    if is_postgres():
        item_type = String() if isinstance(column.type, NullType) else column.type
        return column == any_(bindparam(None, values, type_=ARRAY(item_type)))
    return column.in_(values)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def upsert(
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str] | None = None,
) -> int:
    """Insert `rows`; on a clash of `keys` update the `update` columns (or keep the row).

    Returns how many rows were inserted (the rest updated or kept).
    """
    if not rows:
        return 0
    upsert_rows = _upsert_postgres if is_postgres() else _upsert_sqlite
    return sum(
        upsert_rows(table, rows[start : start + CHUNK], keys, update)
        for start in range(0, len(rows), CHUNK)
    )


def _upsert_postgres(table: Table, rows, keys, update) -> int:
    columns = list(rows[0])
    names = ", ".join(f'"{name}"' for name in columns)
    action = (
        "DO UPDATE SET " + ", ".join(f'"{name}" = EXCLUDED."{name}"' for name in update)
        if update
        else "DO NOTHING"
    )
    conflict = ", ".join(f'"{name}"' for name in keys)
    statement = text(
        f'INSERT INTO "{table.name}" ({names}) SELECT {names} '  # noqa: S608 - names are ours
        f'FROM jsonb_populate_recordset(NULL::"{table.name}", CAST(:rows AS jsonb)) '
        f"ON CONFLICT ({conflict}) {action} RETURNING (xmax = 0)"
    )
    payload = json.dumps(rows, default=_json_default)
    return sum(1 for (inserted,) in db.session.execute(statement, {"rows": payload}) if inserted)


def _upsert_sqlite(table: Table, rows, keys, update) -> int:
    before = db.session.scalar(select(func.count()).select_from(table))
    statement = sqlite.insert(table)
    if update:
        statement = statement.on_conflict_do_update(
            index_elements=list(keys), set_={name: statement.excluded[name] for name in update}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    db.session.execute(statement, list(rows))
    return db.session.scalar(select(func.count()).select_from(table)) - before
