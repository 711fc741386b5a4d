"""Display-only reads at the driver's cost: on PostgreSQL the API's single reads
(GET /accounts/{id}/health) and the account page's plain rows run their statement, compiled
once, on a connection each thread keeps for them in autocommit. No pool check-out, no pre-ping,
no BEGIN/ROLLBACK and no SQLAlchemy result processing per read (each statement sees its own
snapshot): for a read of a few rows those cost more than the read itself. What is read this way
is only shown, never written back, so reads that see a moment apart are harmless.

Disconnects are handled optimistically instead of by a ping: a read whose connection turns out
to be gone (the server restarted, an idle connection killed) closes it and runs once more on a
fresh one, which is safe because it only reads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, cast
from weakref import WeakKeyDictionary

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import RowFactory, dict_row, namedtuple_row
from sqlalchemy import Engine, Select, event
from sqlalchemy.engine import Dialect

from cs_platform.extensions import db

# Each engine's read connections by thread (several apps may share a process); a thread that
# takes over a finished one's id takes over its connection.
READS: WeakKeyDictionary[Engine, dict[int, psycopg.Connection]] = WeakKeyDictionary()
FIRST_READ = threading.Lock()


def single_read(statement: Select, params: dict[str, Any]) -> Mapping[Any, Any] | None:
    """The first row of one read-only statement, as a mapping of its column labels to the
    driver's values (as SQLAlchemy passes them on for these types). SQLite reads in the
    session, whose connections keep their BEGIN IMMEDIATE setting."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return db.session.execute(statement, params).mappings().first()
    return on_read_connection(engine, statement, params, dict_row, psycopg.Cursor.fetchone)


def plain_rows(statement: Select, params: dict[str, Any]) -> list[Any]:
    """Every row of one read-only statement, as tuples that also name their columns
    (`row.subject`), holding the driver's values."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return list(db.session.execute(statement, params))
    return on_read_connection(engine, statement, params, namedtuple_row, psycopg.Cursor.fetchall)


def on_read_connection(
    engine: Engine,
    statement: Select,
    params: dict[str, Any],
    row_factory: RowFactory[Any],
    fetch: Callable[[psycopg.Cursor], Any],
) -> Any:
    """`fetch` of `statement` run on this thread's read connection, again on a fresh one if
    that connection was gone."""
    sql, defaults = driver_sql(statement, engine.dialect)
    values = defaults | params
    driver = read_connection(engine)
    try:
        return fetched(engine, driver.cursor(row_factory=row_factory), sql, values, fetch)
    except psycopg.OperationalError:
        if not driver.closed:  # the statement failed, not the connection
            raise
    fresh = read_connection(engine).cursor(row_factory=row_factory)
    return fetched(engine, fresh, sql, values, fetch)


def fetched(
    engine: Engine,
    cursor: psycopg.Cursor,
    sql: str,
    values: dict[str, Any],
    fetch: Callable[[psycopg.Cursor], Any],
) -> Any:
    """`fetch` of `sql` on `cursor` of this thread's read connection; a connection that fails
    and is left anything but idle (broken, or mid-statement) is closed and forgotten."""
    try:
        return fetch(cursor.execute(sql, values))
    except BaseException:
        driver = cursor.connection
        if driver.info.transaction_status != TransactionStatus.IDLE:
            READS.get(engine, {}).pop(threading.get_ident(), None)
            driver.close()
        raise


def read_connection(engine: Engine) -> psycopg.Connection:
    """This thread's read connection to `engine`'s database, opened on first use."""
    held = READS.get(engine)
    if held is None:
        held = engine_reads(engine)
    thread = threading.get_ident()
    driver = held.get(thread)
    if driver is None:
        driver = held[thread] = new_read_connection(engine)
    return driver


def engine_reads(engine: Engine) -> dict[int, psycopg.Connection]:
    """`engine`'s read connections by thread, all closed when the engine is disposed."""
    with FIRST_READ:
        if engine not in READS:
            READS[engine] = {}
            event.listen(engine, "engine_disposed", close_reads)
        return READS[engine]


def close_reads(engine: Engine) -> None:
    for driver in READS.pop(engine, {}).values():
        driver.close()


def new_read_connection(engine: Engine) -> psycopg.Connection:
    """A connection made by `engine`'s pool (its connect events included), then detached from
    it, so the pool's size and check-outs stay the session's alone; in autocommit."""
    pooled = engine.raw_connection()
    driver = cast(psycopg.Connection, pooled.driver_connection)
    pooled.detach()
    driver.autocommit = True
    return driver


@cache
def driver_sql(statement: Select, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """`statement` compiled for `dialect`: its SQL text and the values of its fixed parameters
    (a LIMIT), to which each call adds its own."""
    compiled = statement.compile(dialect=dialect)
    return str(compiled), dict(compiled.params)
