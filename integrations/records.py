"""The record pipeline every connector stream shares: validate, match, store, queue the rest.

A stream supplies `parse(raw) -> Parsed` (raising BadRecord with a reason) and
`write(rows) -> (created, updated)`; everything else (matching, the review queue, counts) is here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import select, update

from cs_platform.bulk_writes import in_values, upsert
from cs_platform.extensions import db
from cs_platform.models import utcnow
from integrations.http import HttpClient
from integrations.matching import MatchKeys, match_accounts
from integrations.models import Connection, UnmatchedRecord

EARLIEST = dt.datetime(2000, 1, 1)


class BadRecord(Exception):  # noqa: N818 - a record, not an error of the program
    """A record with missing, malformed or absurd fields; the message is the reason."""


@dataclass
class Page:
    """One page of raw records and the cursor to resume after it."""

    records: list[dict[str, Any]]
    cursor: str | None


@dataclass
class Parsed:
    key: str  # the record's own id at the source
    match: MatchKeys
    values: dict[str, Any]


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unmatched: int = 0
    failed: int = 0


class Stream:
    """Base of a connector's stream; subclasses set `name` and implement pages/parse/write."""

    name: ClassVar[str] = ""
    source: ClassVar[str] = ""  # the ExternalId source used for matching
    # Streams whose records are the accounts themselves may store unmatched records.
    needs_account: ClassVar[bool] = True

    def __init__(self, connection: Connection, client: HttpClient | None = None) -> None:
        self.connection = connection
        self.client = client
        self.settings: dict[str, Any] = connection.settings or {}
        self._open_queue: bool | None = None

    def pages(self, cursor: str | None) -> Iterator[Page]:
        raise NotImplementedError

    def parse(self, raw: dict[str, Any]) -> Parsed:
        raise NotImplementedError

    def write(self, rows: list[tuple[Parsed, int | None]]) -> tuple[int, int]:
        raise NotImplementedError

    def store(self, records: list[dict[str, Any]], forced_account_id: int | None = None) -> Outcome:
        """Parse, match and write a page; bad and unmatched records go to the review queue."""
        outcome = Outcome()
        parsed: list[tuple[dict, Parsed]] = []
        queue: list[dict[str, Any]] = []
        for raw in map(without_nul, records):
            try:
                parsed.append((raw, self.parse(raw)))
            except BadRecord as bad:
                queue.append(self._queued(raw, record_key(raw), "invalid", str(bad)))
        outcome.failed = len(queue)
        rows = self._match(parsed, forced_account_id, queue, outcome)
        outcome.created, outcome.updated = self.write(rows)
        self._save_queue(queue, [item.key for item, _ in rows])
        return outcome

    def _match(self, parsed, forced_account_id, queue, outcome) -> list[tuple[Parsed, int | None]]:
        if forced_account_id is not None:
            return [(item, forced_account_id) for _, item in parsed]
        accounts = match_accounts(self.source, [item.match for _, item in parsed])
        rows = []
        for (raw, item), account_id in zip(parsed, accounts, strict=True):
            if account_id is None and self.needs_account:
                reason = f"no account matches {item.match.describe(self.source)}"
                queue.append(self._queued(raw, item.key, "unmatched", reason))
                outcome.unmatched += 1
            else:
                rows.append((item, account_id))
        return rows

    def _queued(self, raw: dict, key: str, kind: str, reason: str) -> dict[str, Any]:
        now = utcnow()
        return {
            "connection_id": self.connection.id,
            "stream": self.name,
            "external_id": key[:128],
            "kind": kind,
            "reason": reason[:2000],
            "payload": raw,
            "first_seen_at": now,
            "last_seen_at": now,
            "resolved_at": None,
        }

    def _save_queue(self, queue: list[dict[str, Any]], stored_keys: list[str]) -> None:
        """Queue bad and unmatched records; stored records that were queued leave the queue."""
        queued = {item["external_id"]: item for item in queue}  # one row per key
        upsert(
            UnmatchedRecord.__table__,
            list(queued.values()),
            ["connection_id", "stream", "external_id"],
            ["kind", "reason", "payload", "last_seen_at", "resolved_at"],
        )
        if stored_keys and self._queue_has_open_records(bool(queued)):
            db.session.execute(
                update(UnmatchedRecord)
                .where(
                    UnmatchedRecord.connection_id == self.connection.id,
                    UnmatchedRecord.stream == self.name,
                    in_values(UnmatchedRecord.external_id, stored_keys),
                    UnmatchedRecord.resolved_at.is_(None),
                )
                .values(resolved_at=utcnow())
            )

    def _queue_has_open_records(self, just_queued: bool) -> bool:
        """Whether this stream has open queue entries (asked once per run, then tracked)."""
        if self._open_queue is None:
            self._open_queue = (
                db.session.scalar(
                    select(UnmatchedRecord.id)
                    .where(
                        UnmatchedRecord.connection_id == self.connection.id,
                        UnmatchedRecord.stream == self.name,
                        UnmatchedRecord.resolved_at.is_(None),
                    )
                    .limit(1)
                )
                is not None
            )
        self._open_queue = self._open_queue or just_queued
        return self._open_queue


def without_nul(value: Any) -> Any:
    """The record with NUL characters removed from every key and text: PostgreSQL stores NUL in
    neither text nor jsonb, and one vendor record holding one must not fail its whole page (nor
    its place in the review queue)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value


def record_key(raw: Any) -> str:
    """The record's id for the review queue, even when the record is malformed."""
    if isinstance(raw, dict):
        for name in ("id", "Id", "messageId"):
            if raw.get(name) not in (None, ""):
                return str(raw[name])
    return "unkeyed-" + hashlib.sha256(repr(raw).encode()).hexdigest()[:16]


def parse_time(
    value: Any, field_name: str, required: bool = True, now: dt.datetime | None = None
) -> dt.datetime | None:
    """An ISO-8601 timestamp as naive UTC; absurd (before 2000, in the future) is a BadRecord."""
    if value in (None, ""):
        if required:
            raise BadRecord(f"{field_name} is missing")
        return None
    if not isinstance(value, str):
        raise BadRecord(f"{field_name} is not a timestamp: {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRecord(f"{field_name} is not a timestamp: {value!r}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    if not EARLIEST <= parsed <= (now or utcnow()) + dt.timedelta(days=1):
        raise BadRecord(f"{field_name} {value} is out of range")
    return parsed


def parse_minutes(value: Any, field_name: str) -> int | None:
    """Non-negative whole minutes or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BadRecord(f"{field_name} is not a non-negative number: {value!r}")
    return int(value)


def parse_email(value: Any) -> str | None:
    """A trimmed email address, or None for anything that is not one (vendors send null, "",
    or a phone-only requester): such a ticket is still stored, just without a requester."""
    if not isinstance(value, str) or "@" not in value or len(value.strip()) > 254:
        return None
    return value.strip()


def require(raw: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """raw[name], which must be present and of `kind`."""
    value = raw.get(name)
    if value is None:
        raise BadRecord(f"{name} is missing")
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRecord(f"{name} has the wrong type: {value!r}")
    return value
