"""A SQL source: daily usage rollups read from a team's PostgreSQL warehouse.

The query (setting `query`) returns one row per account and day with the columns `day`,
`active_users`, `events`, optionally `features_used`, and `domain` and/or `external_id` to name
the account; it receives `:since` (the last day already read, re-read because it may have grown).
Its rows are UsageDaily's under the source the `source` setting names ("warehouse" by default,
also the ExternalId source accounts are matched by), beside the other sources' rows.

The query runs read-only and bounded: a read-only transaction, a statement timeout, at most
WAREHOUSE_MAX_ROWS rows, and one statement (it is wrapped as a subquery). Only postgresql:// URLs
are accepted (a sqlite:// URL would open or create a file on this server), with no query
parameters but QUERY_PARAMETERS (libpq's `host`, `hostaddr`, `dbname` or `service` would move the
connection elsewhere), and never the app's own database: refused by its URL, and once connected
by the server's system identifier and database name, which no other address can disguise.
Give the source a read-only role all the same.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import URL, Connection, Engine, TextClause, create_engine, make_url, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError, StatementError
from sqlalchemy.pool import NullPool

from cs_platform import clock
from cs_platform.extensions import db
from integrations.connectors.base import Connector
from integrations.crypto import decrypt_credentials
from integrations.http import AuthFailedError, VendorError
from integrations.matching import MatchKeys, normalise_domain
from integrations.models import WAREHOUSE_USAGE
from integrations.records import BadRecord, Page, Parsed, Stream
from integrations.usage import write_usage

DEFAULT_QUERY = (
    "SELECT domain, day, active_users, events, features_used FROM usage_rollup "
    "WHERE day >= :since ORDER BY day"
)
CHUNK = 5000
LOOPBACK = {"localhost", "127.0.0.1", "::1", "", None}
# Query parameters a source URL may carry: TLS and niceties, nothing that picks the server,
# the database or the session's settings.
QUERY_PARAMETERS = frozenset({"sslmode", "connect_timeout", "application_name"})
# Which cluster and database a connection reached, however it was addressed.
IDENTITY = text(
    "SELECT system_identifier::text || '/' || current_database() FROM pg_control_system()"
)


class UnsafeSourceError(VendorError):
    """A SQL source URL that may not be opened: not PostgreSQL, or the app's own database."""


def check_source_url(url: str, app_database_url: str) -> None:
    """Refuse anything but a PostgreSQL URL, and the database this app itself runs on."""
    try:
        source = make_url(url)
    except ArgumentError as exc:
        raise UnsafeSourceError("the database URL is malformed") from exc
    if source.get_backend_name() != "postgresql":
        raise UnsafeSourceError(
            f"only postgresql:// sources are read, not {source.get_backend_name()}:// "
            "(a file-based URL would open a file on this server)"
        )
    extra = sorted(set(source.query) - QUERY_PARAMETERS)
    if extra:
        raise UnsafeSourceError(
            f"the database URL may not set {', '.join(extra)}: put the host, port and database "
            f"in the URL itself (allowed parameters: {', '.join(sorted(QUERY_PARAMETERS))})"
        )
    if same_database(source, make_url(app_database_url)):
        raise UnsafeSourceError(OWN_DATABASE)


OWN_DATABASE = "this is the app's own database: point the source at a warehouse"


def same_database(source: URL, app: URL) -> bool:
    def place(url: URL) -> tuple:
        host = url.host or ""  # no host: the local socket, as LOOPBACK's None and ""
        local = host in LOOPBACK or host.startswith("/")  # "/...": a Unix socket
        return "localhost" if local else host.lower(), url.port or 5432, url.database

    return app.get_backend_name() == "postgresql" and place(source) == place(app)


@dataclass(frozen=True)
class QueryLimits:
    """How long a statement may run and how many rows a run may read."""

    timeout_seconds: int
    max_rows: int

    @classmethod
    def from_config(cls) -> QueryLimits:
        config = current_app.config
        return cls(config["WAREHOUSE_STATEMENT_TIMEOUT_SECONDS"], config["WAREHOUSE_MAX_ROWS"])


def read_only_engine(url: str, limits: QueryLimits) -> Engine:
    """An engine whose sessions are read-only and time out (PostgreSQL server settings)."""
    timeout_ms = limits.timeout_seconds * 1000
    options = f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}"
    return create_engine(url, poolclass=NullPool, connect_args={"options": options})


def database_identity(connection: Connection) -> str | None:
    """`system identifier/database` of what `connection` reached, or None where the server keeps
    pg_control_system() from this role (the URL check then stands alone)."""
    try:
        with connection.begin_nested():
            return connection.scalar(IDENTITY)
    except SQLAlchemyError:
        return None


def app_database_identity() -> str | None:
    """database_identity of the app's own database (None unless it is PostgreSQL)."""
    if db.engine.dialect.name != "postgresql":
        return None
    with db.engine.connect() as connection:
        return database_identity(connection)


@contextlib.contextmanager
def source_connection(
    url: str, limits: QueryLimits, app_identity: str | None
) -> Iterator[Connection]:
    """A read-only, time-limited connection to the source, refused when it reached the app's own
    database (`app_identity`, see app_database_identity) under another address (an alias,
    0.0.0.0, a socket)."""
    engine = read_only_engine(url, limits)
    try:
        with engine.connect() as connection:
            reached = database_identity(connection)
            if reached is not None and reached == app_identity:
                raise UnsafeSourceError(OWN_DATABASE)
            yield connection
    finally:
        engine.dispose()


def bounded_query(query: str) -> TextClause:
    """The admin's query as a subquery: one statement only, and at most :row_limit rows."""
    body = query.strip().rstrip(";")
    return text(f"SELECT * FROM ({body}) AS source_rows LIMIT :row_limit")  # noqa: S608 - admin-written SQL, run read-only


def driver_message(exc: SQLAlchemyError) -> str:
    """The database driver's own message where SQLAlchemy wraps one, else the error's."""
    orig = exc.orig if isinstance(exc, StatementError) else None
    return str(orig or exc)


def within_limit(partitions: Iterator[Sequence[Any]], max_rows: int) -> Iterator[Sequence[Any]]:
    """The partitions, failing the run once more than max_rows rows came."""
    read = 0
    for rows in partitions:
        read += len(rows)
        if read > max_rows:
            raise VendorError(
                f"the query returned more than {max_rows:,} rows: narrow it "
                "(WHERE day >= :since) or raise WAREHOUSE_MAX_ROWS"
            )
        yield rows


class UsageRowStream(Stream):
    name = "usage_daily"

    def __init__(self, connection, url: str, limits: QueryLimits) -> None:
        super().__init__(connection)
        self.connection_url = url
        self.limits = limits
        self.app_identity = app_database_identity()  # read here: pages() runs on a thread

    @property
    def source(self) -> str:  # type: ignore[override]
        """The ExternalId source to match by, and the UsageDaily source this writes."""
        return str(self.settings.get("source") or WAREHOUSE_USAGE)[:32]

    def pages(self, cursor: str | None) -> Iterator[Page]:
        since = dt.date.fromisoformat(cursor) if cursor else dt.date(2000, 1, 1)
        query = bounded_query(self.settings.get("query", DEFAULT_QUERY))
        params = {"since": since, "row_limit": self.limits.max_rows + 1}
        try:
            with (
                source_connection(
                    self.connection_url, self.limits, self.app_identity
                ) as connection,
                connection.execution_options(stream_results=True).execute(query, params) as result,
            ):
                for rows in within_limit(result.mappings().partitions(CHUNK), self.limits.max_rows):
                    records = [{k: json_safe(v) for k, v in row.items()} for row in rows]
                    today = clock.today().isoformat()  # a bad future day must not jump ahead
                    days = [r["day"] for r in records if str(r.get("day")) <= today]
                    cursor = max([*days, cursor or ""]) or None
                    yield Page(records, cursor)
        except SQLAlchemyError as exc:
            raise VendorError(f"the SQL source failed: {driver_message(exc)[:300]}") from exc

    def parse(self, raw: dict[str, Any]) -> Parsed:
        try:
            day = dt.date.fromisoformat(str(raw.get("day"))[:10])
        except ValueError:
            raise BadRecord(f"day {raw.get('day')!r} is not a date") from None
        if not dt.date(2000, 1, 1) <= day <= clock.today():
            raise BadRecord(f"day {day} is out of range")
        counts = {name: count(raw, name) for name in ("active_users", "events", "features_used")}
        domain = normalise_domain(raw.get("domain"))
        external = raw.get("external_id")
        keys = MatchKeys(str(external) if external else None, (domain,) if domain else ())
        key = f"{external or domain}:{day.isoformat()}"
        return Parsed(key, keys, {"day": day, **counts})

    def write(self, rows: list[tuple[Parsed, int | None]]) -> tuple[int, int]:
        by_key = {(aid, item.values["day"]): item.values for item, aid in rows}
        write_usage([{**values, "account_id": aid, "feature_counts": None}
                     for (aid, _), values in by_key.items()], self.source)  # fmt: skip
        return 0, len(by_key)


def count(raw: dict[str, Any], name: str) -> int:
    value = raw.get(name) or 0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BadRecord(f"{name} is not a count: {value!r}")
    return int(value)


def json_safe(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()[:10] if not isinstance(value, dt.datetime) else value.isoformat()
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


class WarehouseConnector(Connector):
    kind = "sql"
    credential_fields = ("url",)

    @classmethod
    def build_client(cls, connection, credentials: dict[str, Any], **options: Any) -> None:
        return None

    def streams(self) -> list[Stream]:
        return [UsageRowStream(self.connection, self.url, QueryLimits.from_config())]

    @property
    def url(self) -> str:
        url = decrypt_credentials(self.connection.credentials_encrypted).get("url")
        if not url:
            raise AuthFailedError("no database URL is stored for this SQL source")
        check_source_url(url, current_app.config["SQLALCHEMY_DATABASE_URI"])
        return url

    def check(self) -> None:
        try:
            limits, app_identity = QueryLimits.from_config(), app_database_identity()
            with source_connection(self.url, limits, app_identity) as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise VendorError(f"cannot reach the SQL source: {driver_message(exc)[:300]}") from exc
