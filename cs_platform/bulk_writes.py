"""Bulk row writes and set membership for thousands of rows per call: the one implementation.

Interface::

    insert_ignoring_conflicts(table, rows, conflict, returning=None) -> list[tuple]
        INSERT the rows; a row whose `conflict` columns clash with a stored row (or an earlier
        row of the same call) is skipped. Returns the `returning` columns (default: the primary
        key) of the rows actually inserted, so `len()` is how many were.
    upsert(table, rows, keys, update=None) -> int
        INSERT the rows; on a clash of `keys` set the `update` columns from the new row and leave
        every other column as stored, or with no `update` columns keep the stored row. Returns
        how many rows were inserted (the rest were updated or kept). A key may appear only once
        per call (PostgreSQL refuses to update one row twice in a statement).
    in_values(column, values) -> `column IN values`
    is_postgres() -> whether the session's database is PostgreSQL
    JSONText(text) -> a JSON column's value given as its JSON text, for values built faster as
        text than as lists and dicts; stored as if the parsed value had been given. A column
        is looked at for JSONText values when the first row of the call gives it one.

Contract of the rows: plain dicts of column name -> Python value, every row with the same keys
(the columns written; rows of other lengths raise ValueError); columns left out get their
Python-side default (`default=` of the model, taken once per call) or else the database's.
Values are what the ORM takes: str (no NUL character: PostgreSQL text cannot hold one), int,
float, bool, Decimal, date/datetime/time, None, and dicts/lists for JSON columns. Python-side
`onupdate` is not applied: name such columns in `update` with their new value. Nothing is
committed: the caller's transaction decides.

Why each dialect gets what it gets:

- PostgreSQL, an upsert of more than CHUNK rows: COPY into a temporary table of the written
  columns, then one ``INSERT ... SELECT ... ON CONFLICT`` from it, which counts the inserted rows
  in the server. COPY sends each row as text, one value at a time in C (JSON columns as their
  JSON text), with no statement per chunk and no JSON array of the whole chunk to build and for
  the server to take apart (not yet measured against the chunked statements below on its
  own: bench/scoring_runs.py times whole nights). Below CHUNK rows the temporary table (a
  catalog write) costs more than it saves, so smaller calls (API batches) keep the one
  statement.
- PostgreSQL otherwise: rows go in chunks of CHUNK, each one statement with one parameter, the
  chunk as a JSON array: ``INSERT INTO t (cols) SELECT cols FROM
  jsonb_populate_recordset(NULL::t, :rows) ON CONFLICT (...) DO NOTHING | DO UPDATE ...
  RETURNING ...``. The server turns each JSON object into a row of the table's own row type, so
  every column type (numeric, dates, JSON, arrays, enums) is read by its own input function,
  too-long text is refused rather than cut, and no per-column SQL type has to be spelt here. One
  parameter however many rows: no per-row round trips and no thousands of bind parameters to
  compile. Chosen over the other one-statement technique, unnest()ed typed arrays (one array per
  column, which outbox rows used): 1.7x the rows per second on outbox rows (json.dumps runs in
  C, where arrays are adapted value by value and JSON columns still need a json.dumps each), and
  1.8x the old executemany upsert of scoring history. RETURNING (xmax = 0) tells an inserted row
  from an updated one. Two things differ from SQLite: a JSON column given None stores SQL NULL
  (SQLite stores JSON null; both read back as None), and JSON objects come back with their keys
  in jsonb's order (sign text columns, never JSON ones).
- SQLite (embedded use, tests): SQLAlchemy's `sqlite.insert(...).on_conflict_do_nothing()` or
  `.on_conflict_do_update()` as an executemany per chunk, RETURNING where asked (SQLAlchemy
  batches it into multi-row VALUES). Writes are serialised there, so counting the table before
  and after an upsert is exact.
- `in_values`: `= ANY(:array)` on PostgreSQL (one parameter, one cached plan whatever the
  length), a plain `IN` on SQLite.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from itertools import chain, islice
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    String,
    Table,
    any_,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import NullType

from cs_platform.extensions import db

CHUNK = 2000

Rows = Iterable[dict[str, Any]]


class JSONText(str):
    """A JSON column's value given as its JSON text (what the column stores), not as the lists
    and dicts it stands for."""


def is_postgres() -> bool:
    """Whether the app's database is PostgreSQL (asked of the engine: no session is made)."""
    return db.engine.dialect.name == "postgresql"


def in_values(
    column: ColumnElement[Any] | QueryableAttribute[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """`column IN values`, as one array parameter on PostgreSQL (false for no values)."""
    values = list(values)
    if is_postgres():
        item_type = String() if isinstance(column.type, NullType) else column.type
        return column == any_(bindparam(None, values, type_=ARRAY(item_type)))
    return column.in_(values)


def insert_ignoring_conflicts(
    table: Table, rows: Rows, conflict: Sequence[str], returning: Sequence[str] | None = None
) -> list[tuple]:
    """INSERT ... ON CONFLICT (`conflict`) DO NOTHING; the `returning` columns (default: the
    primary key) of the rows actually inserted."""
    names = list(returning) if returning else [column.name for column in table.primary_key]
    inserted: list[tuple] = []
    for chunk in map(_parsed_json, _chunks(table, rows)):
        if is_postgres():
            statement = _postgres_insert(table, chunk, conflict, None, _quoted(names))
            result = db.session.execute(statement, {"rows": _json_rows(chunk)})
        else:
            sqlite_statement = (
                sqlite.insert(table)
                .on_conflict_do_nothing(index_elements=list(conflict))
                .returning(*(table.c[name] for name in names))
            )
            result = db.session.execute(sqlite_statement, chunk)
        inserted.extend(tuple(row) for row in result)
    return inserted


def upsert(
    table: Table, rows: Rows, keys: Sequence[str], update: Sequence[str] | None = None
) -> int:
    """INSERT ... ON CONFLICT (`keys`) DO UPDATE SET the `update` columns (none: DO NOTHING);
    returns how many rows were inserted."""
    chunks = _chunks(table, rows)
    if is_postgres():
        return _postgres_upsert(table, chunks, keys, update)
    inserted = 0
    for chunk in map(_parsed_json, chunks):
        if not update:
            sqlite_statement = sqlite.insert(table).on_conflict_do_nothing(
                index_elements=list(keys)
            )
            key = table.c[keys[0]]
            result = db.session.execute(sqlite_statement.returning(key), chunk)
            inserted += len(result.all())
        else:
            sqlite_statement = sqlite.insert(table)
            sqlite_statement = sqlite_statement.on_conflict_do_update(
                index_elements=list(keys),
                set_={name: sqlite_statement.excluded[name] for name in update},
            )
            before = _count(table)
            db.session.execute(sqlite_statement, chunk)
            inserted += _count(table) - before
    return inserted


def _postgres_upsert(
    table: Table,
    chunks: Iterator[list[dict[str, Any]]],
    keys: Sequence[str],
    update: Sequence[str] | None,
) -> int:
    """One statement for a single short chunk, else COPY into a temporary table and one
    INSERT ... SELECT from it; returns how many rows were inserted."""
    first = next(chunks, None)
    if first is None:
        return 0
    if len(first) < CHUNK:
        first = _parsed_json(first)
        statement = _postgres_insert(table, first, keys, update, "(xmax = 0)")
        result = db.session.execute(statement, {"rows": _json_rows(first)})
        return sum(1 for (is_new,) in result if is_new)
    connection = db.session.connection()
    staging = _quoted([f"bulk_{table.name}_{uuid.uuid4().hex[:8]}"])
    columns = _quoted(first[0])
    name = db.session.get_bind().dialect.identifier_preparer.format_table(table)
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "  # noqa: S608 - names of the model
        f"SELECT {columns} FROM {name} WITH NO DATA"
    )
    _copy_rows(connection, staging, table, chain([first], chunks))
    insert = _postgres_insert_from(table, staging, columns, keys, update)
    inserted = db.session.execute(insert).scalar_one()
    connection.exec_driver_sql(f"DROP TABLE {staging}")
    return inserted


def _copy_rows(
    connection: Any, staging: str, table: Table, chunks: Iterable[list[dict[str, Any]]]
) -> None:
    """COPY the rows into `staging`, JSON columns as their JSON text."""
    cursor = connection.connection.cursor()
    json_columns = {column.name for column in table.columns if isinstance(column.type, JSON)}
    names: list[str] | None = None
    with cursor.copy(f"COPY {staging} FROM STDIN") as copy:
        for chunk in chunks:
            names = names or list(chunk[0])
            as_json = [name in json_columns for name in names]
            for row in chunk:
                copy.write_row(
                    [
                        _json_text(row[name]) if is_json else row[name]
                        for name, is_json in zip(names, as_json, strict=True)
                    ]
                )


def _postgres_insert_from(
    table: Table, staging: str, columns: str, keys: Sequence[str], update: Sequence[str] | None
):
    name = db.session.get_bind().dialect.identifier_preparer.format_table(table)
    action = _conflict_action(update)
    return text(
        f"WITH written AS (INSERT INTO {name} ({columns}) "  # noqa: S608 - names of the model
        f"SELECT {columns} FROM {staging} ON CONFLICT ({_quoted(keys)}) {action} "
        "RETURNING (xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted) FROM written"
    )


def _json_text(value: Any) -> str | None:
    """A JSON column's value as COPY sends it: its JSON text (None: SQL NULL)."""
    if value is None or isinstance(value, JSONText):
        return value
    return json.dumps(value, default=_json_default, allow_nan=False)


def _parsed_json(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chunk with any JSONText value parsed, for the paths that serialise values
    themselves."""
    texts = [name for name, value in chunk[0].items() if isinstance(value, JSONText)]
    if not texts:
        return chunk
    return [{**row, **{name: _loaded(row[name]) for name in texts}} for row in chunk]


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, JSONText) else value


def _count(table: Table) -> int:
    return db.session.scalar(select(func.count()).select_from(table)) or 0


def _chunks(table: Table, rows: Rows) -> Iterator[list[dict[str, Any]]]:
    """The rows in lists of CHUNK, with the Python-side defaults of the columns they leave out
    (computed once), so both dialects store the same rows."""
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return
    defaults, width = _missing_defaults(table, first), len(first)
    iterator = chain([first], iterator)
    while chunk := list(islice(iterator, CHUNK)):
        if any(len(row) != width for row in chunk):
            raise ValueError(f"rows for {table.name} must all have the same columns")
        if defaults:
            chunk = [{**defaults, **row} for row in chunk]
        yield chunk


def _missing_defaults(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    defaults = {}
    for column in table.columns:
        default = column.default
        if column.name in row or default is None:
            continue
        if default.is_scalar:
            defaults[column.name] = default.arg  # type: ignore[attr-defined]
        elif default.is_callable:
            defaults[column.name] = default.arg(None)  # type: ignore[attr-defined]
    return defaults


def _conflict_action(update: Sequence[str] | None) -> str:
    """What ON CONFLICT does: overwrite the `update` columns from the new row, or nothing."""
    if not update:
        return "DO NOTHING"
    quote = db.session.get_bind().dialect.identifier_preparer.quote
    return "DO UPDATE SET " + ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in update)


def _quoted(names: Iterable[str]) -> str:
    quote = db.session.get_bind().dialect.identifier_preparer.quote
    return ", ".join(quote(name) for name in names)


def _postgres_insert(
    table: Table,
    chunk: list[dict[str, Any]],
    conflict: Sequence[str],
    update: Sequence[str] | None,
    returning: str,
):
    name = db.session.get_bind().dialect.identifier_preparer.format_table(table)
    columns = _quoted(chunk[0])
    action = _conflict_action(update)
    return text(
        f"INSERT INTO {name} ({columns}) SELECT {columns} "  # noqa: S608 - names of the model
        f"FROM jsonb_populate_recordset(NULL::{name}, CAST(:rows AS jsonb)) "
        f"ON CONFLICT ({_quoted(conflict)}) {action} RETURNING {returning}"
    )


def _json_rows(chunk: list[dict[str, Any]]) -> str:
    try:
        return json.dumps(chunk, default=_json_default, allow_nan=False)
    except ValueError:  # NaN or infinity: float8 reads them as strings
        return json.dumps([_finite(row) for row in chunk], default=_json_default, allow_nan=False)


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    return {
        name: ("NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity")
        if isinstance(value, float) and not math.isfinite(value)
        else value
        for name, value in row.items()
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot send {type(value).__name__} as JSON")
