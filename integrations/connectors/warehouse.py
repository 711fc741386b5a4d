"""A SQL source: daily usage rollups read from any SQLAlchemy URL (a team's warehouse).

The query (setting `query`) returns one row per account and day with the columns `day`,
`active_users`, `events`, optionally `features_used`, and `domain` and/or `external_id` to name
the account; it receives `:since` (the last day already read, re-read because it may have grown).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from integrations.connectors.base import Connector
from integrations.crypto import decrypt_credentials
from integrations.http import AuthFailedError, VendorError
from integrations.matching import MatchKeys, normalise_domain
from integrations.records import BadRecord, Page, Parsed, Stream
from integrations.usage import write_usage

DEFAULT_QUERY = (
    "SELECT domain, day, active_users, events, features_used FROM usage_rollup "
    "WHERE day >= :since ORDER BY day"
)
CHUNK = 5000


class UsageRowStream(Stream):
    name = "usage_daily"

    def __init__(self, connection, url: str) -> None:
        super().__init__(connection)
        self.connection_url = url

    @property
    def source(self) -> str:  # type: ignore[override]
        return self.settings.get("source", "warehouse")

    def pages(self, cursor: str | None) -> Iterator[Page]:
        since = dt.date.fromisoformat(cursor) if cursor else dt.date(2000, 1, 1)
        engine = create_engine(self.connection_url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                result = connection.execution_options(stream_results=True).execute(
                    text(self.settings.get("query", DEFAULT_QUERY)), {"since": since}
                )
                for rows in result.mappings().partitions(CHUNK):
                    records = [{k: json_safe(v) for k, v in row.items()} for row in rows]
                    today = dt.date.today().isoformat()  # a bad future day must not jump ahead
                    days = [r["day"] for r in records if str(r.get("day")) <= today]
                    cursor = max([*days, cursor or ""]) or None
                    yield Page(records, cursor)
        except SQLAlchemyError as exc:
            raise VendorError(f"the SQL source failed: {str(exc.orig or exc)[:300]}") from exc
        finally:
            engine.dispose()

    def parse(self, raw: dict[str, Any]) -> Parsed:
        try:
            day = dt.date.fromisoformat(str(raw.get("day"))[:10])
        except ValueError:
            raise BadRecord(f"day {raw.get('day')!r} is not a date") from None
        if not dt.date(2000, 1, 1) <= day <= dt.date.today():
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
                     for (aid, _), values in by_key.items()])  # fmt: skip
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
        return [UsageRowStream(self.connection, self.url)]

    @property
    def url(self) -> str:
        url = decrypt_credentials(self.connection.credentials_encrypted).get("url")
        if not url:
            raise AuthFailedError("no database URL is stored for this SQL source")
        return url

    def check(self) -> None:
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise VendorError(f"cannot reach the SQL source: {str(exc.orig or exc)[:300]}") from exc
        finally:
            engine.dispose()
