"""One-row reads at the driver's cost: the API's single reads (GET /accounts/{id}/health) on
PostgreSQL run their statement, compiled once, on a connection each thread keeps for them in
autocommit. No pool check-out, no pre-ping and no BEGIN/ROLLBACK per read (a single statement
sees one snapshot anyway): for a one-row read those cost more than the read itself.

Disconnects are handled optimistically instead of by a ping: a read whose connection turns out
to be gone (the server restarted, an idle connection killed) closes it and runs once more on a
fresh one, which is safe because it only reads."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import cache
from typing import Any, cast
from weakref import WeakKeyDictionary

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row
from sqlalchemy import Engine, Select, event
from sqlalchemy.engine import Dialect

from cs_platform.extensions import db

# Each engine's read connections by thread (several apps may share a process); a thread that
# takes over a finished one's id takes over its connection.
READS: WeakKeyDictionary[Engine, dict[int, psycopg.Connection[DictRow]]] = WeakKeyDictionary()
FIRST_READ = threading.Lock()


def single_read(statement: Select, params: dict[str, Any]) -> Mapping[Any, Any] | None:
    """The first row of one read-only statement, as a mapping of its column labels to the
    driver's values (as SQLAlchemy passes them on for these types). On PostgreSQL it runs on
    this thread's read connection, again on a fresh one if that connection was gone; SQLite
    reads in the session, whose connections keep their BEGIN IMMEDIATE setting."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return db.session.execute(statement, params).mappings().first()
    sql, defaults = driver_sql(statement, engine.dialect)
    values = defaults | params
    driver = read_connection(engine)
    try:
        return fetch_one(engine, driver, sql, values)
    except psycopg.OperationalError:
        if not driver.closed:  # the statement failed, not the connection
            raise
    return fetch_one(engine, read_connection(engine), sql, values)


def fetch_one(
    engine: Engine, driver: psycopg.Connection[DictRow], sql: str, values: dict[str, Any]
) -> DictRow | None:
    """The first row of `sql` on `driver`, this thread's read connection; one that fails and is
    left anything but idle (broken, or mid-statement) is closed and forgotten."""
    try:
        return driver.execute(sql, values).fetchone()
    except BaseException:
        if driver.info.transaction_status != TransactionStatus.IDLE:
            READS.get(engine, {}).pop(threading.get_ident(), None)
            driver.close()
        raise


def read_connection(engine: Engine) -> psycopg.Connection[DictRow]:
    """This thread's read connection to `engine`'s database, opened on first use."""
    held = READS.get(engine)
    if held is None:
        held = engine_reads(engine)
    thread = threading.get_ident()
    driver = held.get(thread)
    if driver is None:
        driver = held[thread] = new_read_connection(engine)
    return driver


def engine_reads(engine: Engine) -> dict[int, psycopg.Connection[DictRow]]:
    """`engine`'s read connections by thread, all closed when the engine is disposed."""
    with FIRST_READ:
        if engine not in READS:
            READS[engine] = {}
            event.listen(engine, "engine_disposed", close_reads)
        return READS[engine]


def close_reads(engine: Engine) -> None:
    for driver in READS.pop(engine, {}).values():
        driver.close()


def new_read_connection(engine: Engine) -> psycopg.Connection[DictRow]:
    """A connection made by `engine`'s pool (its connect events included), then detached from
    it, so the pool's size and check-outs stay the session's alone; in autocommit, answering
    rows as dicts."""
    pooled = engine.raw_connection()
    driver = cast(psycopg.Connection[DictRow], pooled.driver_connection)
    pooled.detach()
    driver.autocommit = True
    driver.row_factory = dict_row
    return driver


@cache
def driver_sql(statement: Select, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """`statement` compiled for `dialect`: its SQL text and the values of its fixed parameters
    (a LIMIT), to which each call adds its own."""
    compiled = statement.compile(dialect=dialect)
    return str(compiled), dict(compiled.params)
