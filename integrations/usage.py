"""Product usage: Segment-style events in (validated, deduplicated by messageId), rolled up
set-wise into UsageDaily; plus the shared writer used by the CSV import and the SQL source.

A roll-up claims the events no roll-up has taken yet (`rollup_batch IS NULL`) by stamping them
with a new batch number, then recomputes the (group, day) pairs of that batch. An ingest that
commits after the claim keeps NULL and is taken by the next run, so no event is ever skipped
(an id watermark would skip a lower id committed late).

An event counts for its own groupId, else for the group its user's latest group() call named
(UsageUserLink, per connection): links are resolved when a day is recomputed, so tracks sent
before the group() call count too. The roll-up writes its rows as the "events" source of
UsageDaily, beside the rows of the CSV import and the SQL sources (docs/ingestion.md)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import (
    ColumnElement,
    Join,
    Row,
    Subquery,
    and_,
    case,
    delete,
    distinct,
    func,
    literal,
    select,
    text,
    tuple_,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from cs_platform.bulk_writes import is_postgres, upsert
from cs_platform.extensions import db, rowcount
from cs_platform.models import ExternalId, utcnow
from integrations.matching import MatchKeys, match_accounts, normalise_domain
from integrations.models import (
    EVENTS_USAGE,
    Connection,
    RawUsageEvent,
    SyncState,
    UnmatchedRecord,
    UsageDaily,
    UsageUserLink,
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


def oldest_accepted_day(today: dt.date) -> dt.date | None:
    """The first day a late event may fall on: RAW_USAGE_EVENTS_RETENTION_DAYS days counting
    today (None when raw events are kept forever). A roll-up recomputes a day from all its raw
    events, so an event of a day whose events were pruned would recompute it from a remnant."""
    days = int(current_app.config["RAW_USAGE_EVENTS_RETENTION_DAYS"])
    return today - dt.timedelta(days=days - 1) if days > 0 else None


def validate_event(
    event: Any, kind: str | None, now: dt.datetime, oldest_day: dt.date | None = None
) -> dict[str, Any]:
    """A raw_usage_events row for one Segment-style event, or BadRecord with the reason; an
    event before `oldest_day` is too late to be rolled up."""
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
    context = event["context"] if isinstance(event.get("context"), dict) else {}
    group = event.get("groupId") or context.get("groupId")
    if kind == "group" and not group:
        raise BadRecord("group calls need a groupId")
    message_id = event.get("messageId") or f"generated-{uuid.uuid4()}"
    if not isinstance(message_id, str) or len(message_id) > 100:
        raise BadRecord("messageId must be a string of at most 100 characters")
    timestamp = parse_time(event.get("timestamp"), "timestamp", False, now) or now
    if oldest_day is not None and timestamp.date() < oldest_day:
        raise BadRecord(
            f"timestamp {event.get('timestamp')} is too old: events of {oldest_day} or later "
            "are accepted (RAW_USAGE_EVENTS_RETENTION_DAYS)"
        )
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
    oldest_day = oldest_accepted_day(now.date())
    for index, event in enumerate(events):
        try:
            row = validate_event(event, kind, now, oldest_day)
        except BadRecord as bad:
            message_id = event.get("messageId") if isinstance(event, dict) else None
            rejected.append({"index": index, "messageId": message_id, "reason": str(bad)})
            continue
        rows.append({**row, "connection_id": connection.id, "received_at": now})
    upsert(RawUsageEvent.__table__, rows, ["connection_id", "message_id"])
    return IngestResult(len(rows), rejected)


def write_usage(rows: list[dict[str, Any]], source: str) -> None:
    """Upsert one source's UsageDaily rows (account_id, day, active_users, events,
    features_used, feature_counts); other sources' rows of those days are left as they are."""
    upsert(
        UsageDaily.__table__,
        [{**row, "source": source} for row in rows],
        ["account_id", "day", "source"],
        ["active_users", "events", "features_used", "feature_counts"],
    )


def roll_up(connection: Connection) -> int:
    """Claim the connection's events not yet rolled up, record the user links of their group()
    calls, and recompute UsageDaily for the (group, day) pairs they touch; returns the rows
    written. Groups that match no account go to the review queue. The caller commits: claim and
    recompute count only together.
    """
    state = locked_rollup_state(connection)
    batch, written = int(state.cursor or 0) + 1, 0
    if claim_events(connection, batch):
        state.cursor = str(batch)
        link_users(connection, batch)
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
    return rowcount(db.session.execute(claim)) or 0


def link_users(connection: Connection, batch: int) -> None:
    """Link each user of the batch's group() calls to the group of their latest call, unless the
    stored link comes from a later call; a changed group keeps the one it replaced."""
    events, links = RawUsageEvent.__table__, UsageUserLink.__table__
    latest_first = (events.c.timestamp.desc(), events.c.id.desc())
    calls = (
        select(
            events.c.user_id,
            events.c.group_id,
            events.c.timestamp,
            func.row_number().over(partition_by=events.c.user_id, order_by=latest_first).label("n"),
        )
        .where(
            events.c.connection_id == connection.id,
            events.c.rollup_batch == batch,
            events.c.type == "group",
        )
        .subquery()
    )
    latest = select(
        literal(connection.id), calls.c.user_id, calls.c.group_id, calls.c.timestamp, literal(batch)
    ).where(calls.c.n == 1)
    insert = postgresql.insert(links) if is_postgres() else sqlite.insert(links)
    statement = insert.from_select(
        ["connection_id", "user_id", "group_id", "seen_at", "changed_batch"], latest
    )
    new = statement.excluded
    same = links.c.group_id == new.group_id
    statement = statement.on_conflict_do_update(
        index_elements=["connection_id", "user_id"],
        set_={
            "group_id": new.group_id,
            "seen_at": new.seen_at,
            "changed_batch": case((same, links.c.changed_batch), else_=new.changed_batch),
            "previous_group_id": case((same, links.c.previous_group_id), else_=links.c.group_id),
        },
        where=new.seen_at >= links.c.seen_at,
    )
    db.session.execute(statement)


def same_user() -> ColumnElement[bool]:
    """An event and a link of the same user in the same connection."""
    events, links = RawUsageEvent.__table__, UsageUserLink.__table__
    return and_(
        links.c.connection_id == events.c.connection_id, links.c.user_id == events.c.user_id
    )


def linked_events() -> Join:
    """Raw events joined to their user's link (inner join)."""
    return RawUsageEvent.__table__.join(UsageUserLink.__table__, same_user())


def batch_pairs(connection: Connection, batch: int) -> Subquery:
    """The distinct (group_id, day) pairs the batch changes: its events' days, for their own
    groupId or else their user's linked group; and every day of the events without a groupId of
    the users the batch linked, for the new group and for the one it replaced."""
    events, links = RawUsageEvent.__table__, UsageUserLink.__table__
    own = events.c.connection_id == connection.id
    grouped = select(events.c.group_id, events.c.day).where(
        own, events.c.rollup_batch == batch, events.c.group_id.is_not(None)
    )
    ungrouped = and_(own, events.c.group_id.is_(None))
    linked = (
        select(links.c.group_id, events.c.day)
        .select_from(linked_events())
        .where(ungrouped, events.c.rollup_batch == batch)
    )
    relinked = (
        select(links.c.group_id, events.c.day)
        .select_from(linked_events())
        .where(ungrouped, links.c.changed_batch == batch)
    )
    replaced = (
        select(links.c.previous_group_id, events.c.day)
        .select_from(linked_events())
        .where(ungrouped, links.c.changed_batch == batch, links.c.previous_group_id.is_not(None))
    )
    return union(grouped, linked, relinked, replaced).subquery()


def attributed_events(touched: Subquery) -> Subquery:
    """The raw events of every connection that count for the touched (group_id, day) pairs:
    by their own groupId, or without one by their user's linked group."""
    events, links = RawUsageEvent.__table__, UsageUserLink.__table__
    grouped = select(
        events.c.group_id, events.c.day, events.c.user_id, events.c.type, events.c.event
    ).join(touched, and_(touched.c.group_id == events.c.group_id, touched.c.day == events.c.day))
    linked = (
        select(links.c.group_id, events.c.day, events.c.user_id, events.c.type, events.c.event)
        .select_from(linked_events())
        .join(touched, and_(touched.c.group_id == links.c.group_id, touched.c.day == events.c.day))
        .where(events.c.group_id.is_(None))
    )
    return union_all(grouped, linked).subquery()


def recompute(connection: Connection, touched: Subquery) -> int:
    """Aggregate all raw events of the touched (group_id, day) pairs and write their accounts'
    "events" rows of UsageDaily; a touched day left without events (its users linked to
    another group) loses its row. Returns the rows written."""
    prefer_hash_joins()
    pairs = db.session.execute(select(touched.c.group_id, touched.c.day)).all()
    names = sorted({group for group, _ in pairs})
    keys = [MatchKeys(name, tuple(filter(None, [normalise_domain(name)]))) for name in names]
    accounts = dict(zip(names, match_accounts(SOURCE, keys), strict=True))
    totals, unmatched = account_totals(aggregate_groups(touched), accounts)
    write_usage(
        [
            {"account_id": a, "day": d, "active_users": u, "events": e, "features_used": f,
             "feature_counts": None}
            for (a, d), (u, e, f) in totals.items()
        ],
        EVENTS_USAGE,
    )  # fmt: skip
    emptied = {(accounts[group], day) for group, day in pairs if accounts[group]} - set(totals)
    if emptied:
        db.session.execute(
            delete(UsageDaily).where(
                UsageDaily.source == EVENTS_USAGE,
                tuple_(UsageDaily.account_id, UsageDaily.day).in_(sorted(emptied)),
            )
        )
    queue_unmatched_groups(connection, unmatched)
    return len(totals)


def prefer_hash_joins() -> None:
    """On PostgreSQL, no nested loops for the rest of the transaction: the planner's statistics
    know neither the batch just claimed nor the links just written (it expects one row of each),
    and a nested loop over them compares every event with every link (20 s for 12,500 events
    and 2,500 links, against 0.7 s hashed)."""
    if is_postgres():
        db.session.execute(text("SET LOCAL enable_nestloop = off"))


def aggregate_groups(touched: Subquery) -> list[Row]:
    """(group_id, day, users, counted events, features) of the touched pairs with events."""
    events = attributed_events(touched)
    counted = case((events.c.type.in_(COUNTED_TYPES), 1), else_=0)
    aggregate = select(
        events.c.group_id,
        events.c.day,
        func.count(distinct(events.c.user_id)),
        func.sum(counted),
        func.count(distinct(events.c.event)),
    ).group_by(events.c.group_id, events.c.day)
    return list(db.session.execute(aggregate).all())


def account_totals(
    groups: list[Row], accounts: dict[str, int | None]
) -> tuple[dict[tuple[int, dt.date], list[int]], dict[str, int]]:
    """[users, events, features] per (account, day), and the events of groups no account
    matches."""
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
    return totals, unmatched


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
    recompute(record.connection, group_days(group))
    record.resolved_at = utcnow()
    record.resolved_account_id = account_id


def group_days(group: str) -> Subquery:
    """(group_id, day) for every day with raw events that count for `group`."""
    events, links = RawUsageEvent.__table__, UsageUserLink.__table__
    own = select(events.c.group_id, events.c.day).where(events.c.group_id == group)
    linked = (
        select(links.c.group_id, events.c.day)
        .select_from(linked_events())
        .where(links.c.group_id == group, events.c.group_id.is_(None))
    )
    return union(own, linked).subquery()


def unattributed_events() -> dict[int, int]:
    """Per event source (connection id): rolled-up events without a groupId whose user no
    group() call has linked, so they count for no account."""
    events, links = RawUsageEvent.__table__, UsageUserLink.__table__
    query = (
        select(events.c.connection_id, func.count())
        .select_from(events.outerjoin(links, same_user()))
        .where(
            events.c.group_id.is_(None),
            events.c.rollup_batch.is_not(None),
            links.c.user_id.is_(None),
        )
        .group_by(events.c.connection_id)
    )
    return dict(db.session.execute(query).all())


def prune_raw_events(retention_days: int) -> int:
    """Delete raw events received more than `retention_days` ago (after they were rolled up)."""
    cutoff = utcnow() - dt.timedelta(days=retention_days)
    result = db.session.execute(delete(RawUsageEvent).where(RawUsageEvent.received_at < cutoff))
    return rowcount(result) or 0


def roll_up_all() -> int:
    """Roll up every Segment-style source; commits per source. Returns the rows written."""
    written = 0
    for connection in db.session.scalars(select(Connection).where(Connection.kind == SOURCE)):
        written += roll_up(connection)
        db.session.commit()
    return written
