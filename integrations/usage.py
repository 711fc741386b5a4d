"""Product usage: Segment-style events in (validated, deduplicated by messageId), rolled up
set-wise into UsageDaily; plus the shared writer used by the CSV import and the SQL source.

A roll-up claims the events no roll-up has taken yet (`rollup_batch IS NULL`) by stamping them
with a new batch number, then recomputes the (group, day) pairs of that batch. An ingest that
commits after the claim keeps NULL and is taken by the next run, so no event is ever skipped
(an id watermark would skip a lower id committed late)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Subquery, and_, case, delete, distinct, func, select, update

from cs_platform.extensions import db
from cs_platform.models import ExternalId, utcnow
from integrations.bulk import upsert
from integrations.matching import MatchKeys, match_accounts, normalise_domain
from integrations.models import (
    Connection,
    RawUsageEvent,
    SyncState,
    UnmatchedRecord,
    UsageDaily,
)
from integrations.records import BadRecord, parse_time

SOURCE = "segment"
EVENT_TYPES = ("track", "identify", "group", "page", "screen")
COUNTED_TYPES = ("track", "page", "screen")  # what counts as product events
MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
ROLLUP_STREAM = "rollup"  # the sync state whose cursor counts the roll-up batches


def hash_write_key(write_key: str) -> str:
    return hashlib.sha256(write_key.encode()).hexdigest()


def new_write_key() -> str:
    return secrets.token_urlsafe(24)


def source_for_write_key(write_key: str) -> Connection | None:
    """The enabled segment connection whose write key this is."""
    if not write_key:
        return None
    return db.session.scalar(
        select(Connection).where(
            Connection.write_key_hash == hash_write_key(write_key),
            Connection.kind == SOURCE,
            Connection.enabled.is_(True),
        )
    )


def validate_event(event: Any, kind: str | None, now: dt.datetime) -> dict[str, Any]:
    """A raw_usage_events row for one Segment-style event, or BadRecord with the reason."""
    if not isinstance(event, dict):
        raise BadRecord("an event must be a JSON object")
    if len(json.dumps(event)) > MAX_EVENT_BYTES:
        raise BadRecord("event is larger than 32 KB")
    kind = kind or event.get("type")
    if kind not in EVENT_TYPES:
        raise BadRecord(f"type {kind!r} is not one of {', '.join(EVENT_TYPES)}")
    user = event.get("userId") or event.get("anonymousId")
    if not isinstance(user, str | int) or isinstance(user, bool):
        raise BadRecord("userId or anonymousId is required")
    name = event.get("event")
    if kind == "track" and (not isinstance(name, str) or not name.strip()):
        raise BadRecord("track events need an event name")
    context = event.get("context") if isinstance(event.get("context"), dict) else {}
    group = event.get("groupId") or context.get("groupId")
    if kind == "group" and not group:
        raise BadRecord("group calls need a groupId")
    message_id = event.get("messageId") or f"generated-{uuid.uuid4()}"
    if not isinstance(message_id, str) or len(message_id) > 100:
        raise BadRecord("messageId must be a string of at most 100 characters")
    timestamp = parse_time(event.get("timestamp"), "timestamp", False, now) or now
    row = {
        "message_id": message_id,
        "type": kind,
        "event": str(name)[:200] if kind == "track" else None,
        "user_id": str(user)[:200],
        "group_id": str(group)[:200] if group else None,
        "day": timestamp.date(),
        "timestamp": timestamp,
    }
    refuse_nul_characters(row)
    return row


def refuse_nul_characters(row: dict[str, Any]) -> None:
    """No database stores NUL in text (PostgreSQL refuses it), and stripping it could merge two
    ids: such an event is rejected on its own, the rest of its batch kept."""
    for field, value in row.items():
        if isinstance(value, str) and "\x00" in value:
            raise BadRecord(f"{field} contains a NUL character")


@dataclass
class IngestResult:
    accepted: int
    rejected: list[dict[str, Any]]


def ingest_events(connection: Connection, events: list[Any], kind: str | None = None):
    """Store the valid events (duplicates by messageId ignored); report the invalid ones."""
    rows, rejected = [], []
    now = utcnow()
    for index, event in enumerate(events):
        try:
            row = validate_event(event, kind, now)
        except BadRecord as bad:
            message_id = event.get("messageId") if isinstance(event, dict) else None
            rejected.append({"index": index, "messageId": message_id, "reason": str(bad)})
            continue
        rows.append({**row, "connection_id": connection.id, "received_at": now})
    upsert(RawUsageEvent.__table__, rows, ["connection_id", "message_id"])
    return IngestResult(len(rows), rejected)


def write_usage(rows: list[dict[str, Any]]) -> None:
    """Upsert UsageDaily rows (account_id, day, active_users, events, features_used)."""
    upsert(
        UsageDaily.__table__,
        rows,
        ["account_id", "day"],
        ["active_users", "events", "features_used", "feature_counts"],
    )


def roll_up(connection: Connection) -> int:
    """Claim the connection's events not yet rolled up and recompute UsageDaily for their
    (group, day) pairs; returns the rows written. Groups that match no account go to the review
    queue. The caller commits: claim and recompute count only together.
    """
    state = locked_rollup_state(connection)
    batch, written = int(state.cursor or 0) + 1, 0
    if claim_events(connection, batch):
        state.cursor = str(batch)
        written = recompute(connection, batch_pairs(connection, batch))
    state.last_success_at = utcnow()
    return written


def locked_rollup_state(connection: Connection) -> SyncState:
    """The connection's "rollup" sync state, row-locked until commit so that roll-ups of one
    connection run one at a time; its cursor is the last batch number."""
    state = SyncState.for_stream(connection.id, ROLLUP_STREAM)
    db.session.refresh(state, with_for_update=True)
    return state


def claim_events(connection: Connection, batch: int) -> int:
    """Stamp every unclaimed event of the connection with `batch`; returns how many."""
    events = RawUsageEvent.__table__
    claim = (
        update(events)
        .where(events.c.connection_id == connection.id, events.c.rollup_batch.is_(None))
        .values(rollup_batch=batch)
    )
    return db.session.execute(claim).rowcount or 0


def batch_pairs(connection: Connection, batch: int) -> Subquery:
    """The distinct (group_id, day) pairs of the connection's events claimed by `batch`."""
    events = RawUsageEvent.__table__
    return (
        select(events.c.group_id, events.c.day)
        .where(
            events.c.connection_id == connection.id,
            events.c.rollup_batch == batch,
            events.c.group_id.is_not(None),
        )
        .distinct()
        .subquery()
    )


def recompute(connection: Connection, touched: Subquery) -> int:
    """Aggregate all raw events of the touched (group_id, day) pairs and write UsageDaily."""
    events = RawUsageEvent.__table__
    counted = case((events.c.type.in_(COUNTED_TYPES), 1), else_=0)
    aggregate = (
        select(
            events.c.group_id,
            events.c.day,
            func.count(distinct(events.c.user_id)),
            func.sum(counted),
            func.count(distinct(events.c.event)),
        )
        .join(touched, and_(touched.c.group_id == events.c.group_id, touched.c.day == events.c.day))
        .group_by(events.c.group_id, events.c.day)
    )
    groups = db.session.execute(aggregate).all()
    names = sorted({group for group, *_ in groups})
    keys = [MatchKeys(name, tuple(filter(None, [normalise_domain(name)]))) for name in names]
    accounts = dict(zip(names, match_accounts(SOURCE, keys), strict=True))
    totals: dict[tuple[int, dt.date], list[int]] = defaultdict(lambda: [0, 0, 0])
    unmatched: dict[str, int] = defaultdict(int)
    for group, day, users, count, features in groups:
        account_id = accounts[group]
        if account_id is None:
            unmatched[group] += int(count or 0)
            continue
        total = totals[(account_id, day)]
        total[0] += users
        total[1] += int(count or 0)
        total[2] += features
    write_usage(
        [
            {"account_id": a, "day": d, "active_users": u, "events": e, "features_used": f,
             "feature_counts": None}
            for (a, d), (u, e, f) in totals.items()
        ]
    )  # fmt: skip
    queue_unmatched_groups(connection, unmatched)
    return len(totals)


def queue_unmatched_groups(connection: Connection, unmatched: dict[str, int]) -> None:
    now = utcnow()
    upsert(
        UnmatchedRecord.__table__,
        [
            {"connection_id": connection.id, "stream": "usage", "external_id": group[:128],
             "kind": "unmatched", "reason": f"no account matches group {group!r}",
             "payload": {"groupId": group, "events": events}, "first_seen_at": now,
             "last_seen_at": now, "resolved_at": None}
            for group, events in unmatched.items()
        ],
        ["connection_id", "stream", "external_id"],
        ["reason", "payload", "last_seen_at", "resolved_at"],
    )  # fmt: skip


def resolve_group(record: UnmatchedRecord, account_id: int) -> None:
    """Map an unmatched group to an account and roll up every day it has events for."""
    group = record.payload["groupId"]
    upsert(
        ExternalId.__table__,
        [{"source": SOURCE, "external_id": group, "account_id": account_id}],
        ["source", "external_id"],
        ["account_id"],
    )
    events = RawUsageEvent.__table__
    touched = select(events.c.group_id, events.c.day).where(events.c.group_id == group).distinct()
    recompute(record.connection, touched.subquery())
    record.resolved_at = utcnow()
    record.resolved_account_id = account_id


def prune_raw_events(retention_days: int) -> int:
    """Delete raw events received more than `retention_days` ago (after they were rolled up)."""
    cutoff = utcnow() - dt.timedelta(days=retention_days)
    result = db.session.execute(delete(RawUsageEvent).where(RawUsageEvent.received_at < cutoff))
    return result.rowcount or 0


def roll_up_all() -> int:
    """Roll up every Segment-style source; commits per source. Returns the rows written."""
    written = 0
    for connection in db.session.scalars(select(Connection).where(Connection.kind == SOURCE)):
        written += roll_up(connection)
        db.session.commit()
    return written
