"""Flask extensions, created unbound here and bound to the app in `create_app`."""

import sqlite3
from typing import TYPE_CHECKING, Any, ClassVar, cast

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import CursorResult, MetaData, Result, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic migrations can alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# The base of every model: `db.Model` itself at run time. mypy cannot take a base class (or a
# type) from an attribute of an instance such as `db`, so it sees the class `db.Model` is built
# as: Base's declarative body plus Flask-SQLAlchemy's mixin (`query`, `__fsa__`), every model a
# table (`__table__` a Table, not any FromClause).
if TYPE_CHECKING:
    from flask_sqlalchemy.model import Model as _FlaskModel
    from sqlalchemy import Table

    class Model(_FlaskModel, Base):
        __table__: ClassVar[Table]

else:
    Model = db.Model


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run by `db.session.execute` matched: SQLAlchemy types
    that call's result as a plain Result, which for those statements is a CursorResult."""
    return cast(CursorResult[Any], result).rowcount


migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)


# How long a SQLite writer waits for another's lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 15_000


@event.listens_for(Engine, "connect")
def configure_sqlite(dbapi_connection, _record) -> None:
    """SQLite, per connection: foreign keys checked (it ignores them unless asked), WAL (readers
    never block the writer, nor it them), a busy timeout, and write transactions that start
    with BEGIN IMMEDIATE: the write lock is taken before the first read of a writing
    transaction, so it waits its turn instead of failing on a stale snapshot. PostgreSQL needs
    none of this."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.isolation_level = "IMMEDIATE"  # pysqlite's implicit BEGIN before writes
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


@event.listens_for(Engine, "savepoint")
def begin_before_sqlite_savepoint(connection, _name) -> None:
    """pysqlite starts no transaction before SAVEPOINT, so SQLite would open one for it and
    RELEASE would commit it, half a unit of work (SQLAlchemy's pysqlite notes, "Serializable
    isolation / Savepoints / Transactional DDL"). Emit the BEGIN ourselves first, so the
    savepoint nests inside the real transaction and only its commit makes it durable."""
    dbapi_connection = connection.connection.dbapi_connection
    if isinstance(dbapi_connection, sqlite3.Connection) and not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN IMMEDIATE")
