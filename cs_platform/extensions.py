"""Flask extensions, created unbound here and bound to the app in `create_app`."""

import hashlib
import sqlite3
import threading
import time
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, cast
from weakref import WeakKeyDictionary

from flask import Blueprint, Flask, g, has_request_context, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from limits import RateLimitItem, WindowStats, parse
from limits.storage import RedisStorage
from limits.strategies import STRATEGIES, FixedWindowRateLimiter
from redis import Connection, Redis
from redis.commands.core import Script
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError
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
# INCRBY with the window's expiry set on its first hit (as limits' own script), answering the
# count and the seconds left, so one round trip gives what the rate-limit headers show.
INCR_EXPIRE_TTL = b"""
local count = redis.call("incrby", KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {count, redis.call("ttl", KEYS[1])}
"""
# The name EVALSHA runs the script by.
INCR_EXPIRE_TTL_SHA = hashlib.sha1(INCR_EXPIRE_TTL, usedforsecurity=False).hexdigest()
# Where a request keeps the windows its hits learnt (in its WSGI environ: one per request).
KNOWN_WINDOWS = "cs_platform.rate_limit_windows"


class FixedWindowKnownAfterHit(FixedWindowRateLimiter):
    """limits' fixed window, whose hit also learns the window's count and reset (on Redis in
    the same round trip) and keeps them for the request: the headers Flask-Limiter's
    `current_limit` fills then cost no second and third read (GET, TTL)."""

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        return self.hit_and_window(item, *identifiers, cost=cost)[0]

    def hit_and_window(
        self, item: RateLimitItem, *identifiers: str, cost: int = 1
    ) -> tuple[bool, WindowStats]:
        """Count a hit; whether it is within the limit, and the window it leaves."""
        key = item.key_for(*identifiers)
        count, reset_at = self._count_and_reset_at(key, item.get_expiry(), cost)
        window = WindowStats(reset_at, max(0, item.amount - count))
        if has_request_context():
            request.environ.setdefault(KNOWN_WINDOWS, {})[key] = window
        return count <= item.amount, window

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        known = request.environ.get(KNOWN_WINDOWS, {}) if has_request_context() else {}
        stats = known.get(item.key_for(*identifiers))
        return stats if stats is not None else super().get_window_stats(item, *identifiers)

    def _count_and_reset_at(self, key: str, expiry: int, cost: int) -> tuple[int, float]:
        """The window's count after this hit and when it resets (epoch seconds)."""
        storage = self.storage
        if type(storage) is RedisStorage:
            count, seconds_left = incr_expire_ttl(storage, storage.prefixed_key(key), expiry, cost)
        elif isinstance(storage, RedisStorage):  # a cluster or sentinels: their own clients
            keys, args = [storage.prefixed_key(key)], [expiry, cost]
            count, seconds_left = self._incr_expire_ttl(keys, args)
        else:
            return storage.incr(key, expiry, amount=cost), storage.get_expiry(key)
        return int(count), time.time() + max(int(seconds_left), 0)

    @cached_property
    def _incr_expire_ttl(self) -> Script:
        """INCR_EXPIRE_TTL on the Redis storage (EVALSHA, loading the script when needed)."""
        return cast(RedisStorage, self.storage).get_connection().register_script(INCR_EXPIRE_TTL)


class HeldRedisConnections(threading.local):
    """Per thread: the connection of each Redis storage's pool that it counts hits on."""

    def __init__(self) -> None:
        self.by_storage: WeakKeyDictionary[RedisStorage, Connection] = WeakKeyDictionary()


HELD_REDIS = HeldRedisConnections()


def incr_expire_ttl(storage: RedisStorage, key: str, expiry: int, cost: int) -> list[int]:
    """INCR_EXPIRE_TTL on a connection this thread holds, taken once from the storage's pool:
    one round trip, without the pool's check-out and return per command (a readiness poll and
    bookkeeping that cost more CPU than the command). A broken connection is reconnected and
    the command sent once more."""
    connection = HELD_REDIS.by_storage.get(storage)
    if connection is None:
        client = cast(Redis, storage.get_connection())
        connection = client.connection_pool.get_connection()
        HELD_REDIS.by_storage[storage] = connection
    try:
        return run_incr_expire_ttl(connection, key, expiry, cost)
    except (RedisConnectionError, RedisTimeoutError):
        connection.disconnect()  # a late answer is dropped with the socket; the next reconnects
        return run_incr_expire_ttl(connection, key, expiry, cost)


def run_incr_expire_ttl(connection: Connection, key: str, expiry: int, cost: int) -> list[int]:
    """EVALSHA of the script, or EVAL of its text when Redis has lost it (EVAL caches it)."""
    try:
        connection.send_command("EVALSHA", INCR_EXPIRE_TTL_SHA, 1, key, expiry, cost)
        return connection.read_response()
    except NoScriptError:
        connection.send_command("EVAL", INCR_EXPIRE_TTL, 1, key, expiry, cost)
        return connection.read_response()


STRATEGIES["fixed-window-known-after-hit"] = FixedWindowKnownAfterHit
limiter = Limiter(key_func=get_remote_address, strategy="fixed-window-known-after-hit")


class RateLimitWindow(NamedTuple):
    """What the rate-limit headers of an answer show: the limit's amount, the calls left in its
    window after this one, and when the window resets (epoch seconds)."""

    amount: int
    remaining: int
    reset_at: float


@cache
def parsed_rate_limit(text: str) -> RateLimitItem:
    """A limit such as "1200 per minute", parsed once per text."""
    return parse(text)


def hit_rate_limit(limit: str, *identifiers: str) -> bool:
    """Count this request against `limit` for `identifiers` on the limiter's storage (one
    round trip on Redis), without Flask-Limiter's per-request pass over every declared limit;
    keeps the window for `current_rate_limit`. False once the window is spent; True with the
    limiter disabled (RATELIMIT_ENABLED)."""
    if not limiter.enabled:
        return True
    item = parsed_rate_limit(limit)
    # The limiter's strategy, as its in-memory fallback's, is FixedWindowKnownAfterHit.
    strategy = cast(FixedWindowKnownAfterHit, limiter.limiter)
    allowed, window = strategy.hit_and_window(item, *identifiers)
    g.rate_limit_window = RateLimitWindow(item.amount, window.remaining, window.reset_time)
    return allowed


# Blueprints whose views count themselves (`hit_rate_limit`), outside Flask-Limiter's pass.
SELF_COUNTED_BLUEPRINTS: set[str] = set()


def counts_itself(blueprint: Blueprint) -> None:
    """Exempt `blueprint` from Flask-Limiter: its views count each call with `hit_rate_limit`,
    so its requests skip the limiter's per-request pass too (`init_limiter`)."""
    limiter.exempt(blueprint)
    SELF_COUNTED_BLUEPRINTS.add(blueprint.name)


def init_limiter(app: Flask) -> None:
    """Bind the limiter to `app`, its per-request pass over every declared limit (exemptions,
    defaults, blueprint and view limits) skipped for the blueprints that count themselves."""
    limiter.init_app(app)
    hooks = app.before_request_funcs[None]
    hooks[hooks.index(limiter._check_request_limit)] = check_limits_unless_self_counted


def check_limits_unless_self_counted() -> None:
    if request.blueprint not in SELF_COUNTED_BLUEPRINTS:
        limiter._check_request_limit()


def current_rate_limit() -> RateLimitWindow | None:
    """The window that counted this request: one `hit_rate_limit` kept, else Flask-Limiter's
    current limit, else None."""
    window = g.get("rate_limit_window")
    if window is not None:
        return window
    current = limiter.current_limit
    if current is None:
        return None
    return RateLimitWindow(current.limit.amount, current.remaining, current.reset_at)


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
