"""Bulk load of a demo book into the database, inside the caller's transaction.

PostgreSQL: `COPY ... FROM STDIN` through psycopg's own connection, with the tables' foreign
keys dropped meanwhile and added back (validated) at the end. Frames made only of
non-null integer, date, timestamp, boolean and float columns (most of usage_daily) are encoded
as COPY's binary format with numpy, with no Python work per row; the others go row by row
through psycopg's text COPY. The id sequences are then moved past the ids written here.
Other databases (SQLite): `executemany` in batches. Either way dates and timestamps are written
in SQLAlchemy's own text forms, so SQLite reads them back and compares them as it should.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
from psycopg import Cursor, sql
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    Table,
    func,
    select,
    text,
)
from sqlalchemy.types import BigInteger, SmallInteger

from cs_platform.demo.generator import DemoBook
from cs_platform.extensions import db

BATCH_ROWS = 20_000
_PG_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension
_BINARY_TRAILER = b"\xff\xff"


def load_book(connection: Connection, book: DemoBook) -> dict[str, int]:
    """Write every table of `book` on `connection`; returns the rows written per table."""
    if connection.dialect.name != "postgresql":
        return _write_book(_Writer(connection), book)
    names = [name for name, _ in book.tables()] + ["usage_daily"]
    with _foreign_keys_suspended(connection, names):
        counts = _write_book(_Writer(connection), book)
    for name in names:
        _reset_sequence(connection, db.metadata.tables[name])
    return counts


def write_frame(connection: Connection, name: str, frame: pd.DataFrame) -> int:
    """Write one more frame into table `name` on `connection` (COPY on PostgreSQL); returns
    the rows written."""
    return _Writer(connection).write(name, frame)


def _write_book(writer: _Writer, book: DemoBook) -> dict[str, int]:
    counts = {name: writer.write(name, frame) for name, frame in book.tables()}
    counts["usage_daily"] = sum(_write_usage(writer, chunk) for chunk in book.usage.chunks())
    return counts


@contextmanager
def _foreign_keys_suspended(connection: Connection, names: list[str]) -> Iterator[None]:
    """Drop the tables' foreign keys and add them back afterwards, as pg_restore does: checking
    each copied row against its parent costs far more than one validating join per key. On an
    error the caller's rollback restores them (PostgreSQL DDL is transactional)."""
    keys = connection.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(:names)"
        ),
        {"names": names},
    ).all()
    quote = connection.dialect.identifier_preparer.quote  # regclass text comes quoted already
    for table, name, _ in keys:
        connection.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}")
    yield
    for table, name, definition in keys:
        connection.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}")


def _write_usage(writer: _Writer, chunk: pd.DataFrame) -> int:
    """Rows without per-feature counts are all fixed-width numbers: they can go binary."""
    counted = chunk["feature_counts"].notna().to_numpy()
    plain = chunk[~counted].drop(columns="feature_counts")
    return writer.write("usage_daily", plain) + writer.write("usage_daily", chunk[counted])


def _reset_sequence(connection: Connection, table: Table) -> None:
    """Move the table's id sequence past the largest id, so the next insert gets a fresh one."""
    column = table.autoincrement_column
    if column is None:
        return
    sequence = func.pg_get_serial_sequence(table.name, column.name)
    connection.execute(select(func.setval(sequence, func.coalesce(func.max(column), 0) + 1, False)))


class _Writer:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.postgresql = connection.dialect.name == "postgresql"

    def write(self, name: str, frame: pd.DataFrame) -> int:
        """Insert `frame` into table `name`; returns the number of rows."""
        table = db.metadata.tables[name]
        _check_columns(table, frame)
        if frame.empty:
            return 0
        if not self.postgresql:
            self._insert(table, frame)
        elif (dtypes := _binary_dtypes(table, frame)) is not None:
            self._copy_binary(table, frame, dtypes)
        else:
            self._copy_text(table, frame)
        return len(frame)

    def _insert(self, table: Table, frame: pd.DataFrame) -> None:
        statement = table.insert().compile(dialect=self.connection.dialect, column_keys=list(frame))
        order = list(statement.positiontup or frame.columns)
        for batch in _batches(table, frame[order]):
            self.connection.exec_driver_sql(str(statement), list(zip(*batch, strict=True)))

    def _copy_text(self, table: Table, frame: pd.DataFrame) -> None:
        with self._cursor() as cursor, cursor.copy(_copy_statement(table, frame)) as copy:
            for batch in _batches(table, frame):
                for row in zip(*batch, strict=True):
                    copy.write_row(row)

    def _copy_binary(self, table: Table, frame: pd.DataFrame, dtypes: list[str]) -> None:
        statement = _copy_statement(table, frame) + sql.SQL(" (FORMAT BINARY)")
        with self._cursor() as cursor, cursor.copy(statement) as copy:
            copy.write(_BINARY_HEADER)
            for low in range(0, len(frame), 10 * BATCH_ROWS):
                part = frame.iloc[low : low + 10 * BATCH_ROWS]
                copy.write(_binary_rows(table, part, dtypes))
            copy.write(_BINARY_TRAILER)

    def _cursor(self) -> Cursor:
        """A cursor of psycopg's own connection, in the transaction SQLAlchemy began."""
        driver = self.connection.connection.driver_connection
        assert driver is not None  # None only once the connection is closed
        return driver.cursor()


def _check_columns(table: Table, frame: pd.DataFrame) -> None:
    unknown = set(frame.columns) - set(table.columns.keys())
    required = {
        column.name
        for column in table.columns
        if not column.nullable and column.server_default is None and column.name not in frame
    }
    if unknown or required:
        raise ValueError(f"{table.name}: unknown columns {unknown or '{}'}, missing {required}")


def _copy_statement(table: Table, frame: pd.DataFrame) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in frame.columns)
    return sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table.name), columns)


def _batches(table: Table, frame: pd.DataFrame) -> Iterator[list[list]]:
    """The frame's columns as lists of plain Python values, BATCH_ROWS rows at a time."""
    for low in range(0, len(frame), BATCH_ROWS):
        part = frame.iloc[low : low + BATCH_ROWS]
        yield [_python_values(part[name], table.columns[name].type) for name in part.columns]


def _python_values(series: pd.Series, column_type: object) -> list:
    """Values the DB-API drivers take as they are: NULL as None, dates and timestamps as text
    in SQLAlchemy's forms ('YYYY-MM-DD', 'YYYY-MM-DD HH:MM:SS.ffffff')."""
    if isinstance(column_type, DateTime | Date) and pd.api.types.is_datetime64_dtype(series):
        values = series.to_numpy()
        if isinstance(column_type, DateTime):
            text = np.strings.replace(np.datetime_as_string(values, unit="us"), "T", " ")
        else:
            text = np.datetime_as_string(values, unit="D")
        text = text.astype(object)
        text[pd.isna(values)] = None
        return text.tolist()
    return series.astype(object).where(series.notna(), None).tolist()


def _binary_dtypes(table: Table, frame: pd.DataFrame) -> list[str] | None:
    """Big-endian numpy types of the frame's columns in COPY binary, or None when one is not
    fixed-width or holds a NULL."""
    dtypes = []
    for name in frame.columns:
        kind = _binary_dtype(table.columns[name].type)
        if kind is None or frame[name].isna().any():
            return None
        dtypes.append(kind)
    return dtypes


def _binary_dtype(column_type: object) -> str | None:
    for sa_type, dtype in (
        (BigInteger, ">i8"),
        (SmallInteger, ">i2"),
        (Integer, ">i4"),
        (Boolean, "?"),
        (DateTime, ">i8"),  # microseconds since 2000-01-01
        (Date, ">i4"),  # days since 2000-01-01
        (Float, ">f8"),
    ):
        if isinstance(column_type, sa_type):
            return dtype
    return None


def _binary_rows(table: Table, frame: pd.DataFrame, dtypes: list[str]) -> bytes:
    """Tuples in COPY binary: field count, then each field as its length and its value."""
    layout = [("fields", ">i2")]
    for index, dtype in enumerate(dtypes):
        layout += [(f"length{index}", ">i4"), (f"value{index}", dtype)]
    rows = np.empty(len(frame), dtype=np.dtype(layout))
    rows["fields"] = len(dtypes)
    for index, (name, dtype) in enumerate(zip(frame.columns, dtypes, strict=True)):
        rows[f"length{index}"] = np.dtype(dtype).itemsize
        rows[f"value{index}"] = _binary_values(frame[name].to_numpy(), table.columns[name].type)
    return rows.tobytes()


def _binary_values(values: np.ndarray, column_type: object) -> np.ndarray:
    if isinstance(column_type, DateTime):
        return (values.astype("datetime64[us]") - _PG_EPOCH).astype(np.int64)
    if isinstance(column_type, Date):
        return (values.astype("datetime64[D]") - _PG_EPOCH.astype("datetime64[D]")).astype(int)
    return values
