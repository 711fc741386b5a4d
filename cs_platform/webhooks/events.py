"""publish_event: the one call domain code makes to announce an event to subscribed endpoints.

Each event is stored once (WebhookEvent, what the event list API serves) and written as a
WebhookDelivery per subscribed endpoint plus an outbox message, all in the caller's transaction,
so it leaves only after the change that caused it is committed and never blocks the caller.
A disabled endpoint gets its deliveries "held", sent in order once it is enabled again.

This is the generic machinery (plus task.created for the kernel's Task); which changes become
events, and their data, live with their domain: `scoring/events.py`, `surveys/events.py`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text, update

from cs_platform import outbox
from cs_platform.bulk_writes import insert_ignoring_conflicts
from cs_platform.extensions import db
from cs_platform.models import Task, utcnow
from cs_platform.webhooks.models import (
    EVENT_TYPES,
    TEST_EVENT,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

OUTBOX_KIND = "webhook"


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


# How event bodies are written: compact JSON, anything not JSON-native as its text.
COMPACT: dict[str, Any] = {"separators": (",", ":"), "default": str}


def event_body(event_type: str, data: dict[str, Any], at: dt.datetime) -> str:
    """The signed body: {"type", "timestamp", "data"} as compact JSON."""
    stamp = at.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": event_type, "timestamp": stamp, "data": data}, **COMPACT)


def subscribed_endpoints(event_type: str) -> list[tuple[int, bool]]:
    """(id, active) of every endpoint subscribing to `event_type`, disabled ones too: they get
    the event held (a few rows, filtered here, not in SQL)."""
    rows = db.session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.active, WebhookEndpoint.event_types)
    ).all()
    return [(endpoint_id, active) for endpoint_id, active, types in rows if event_type in types]


def endpoint_states(endpoint_ids: Sequence[int]) -> list[tuple[int, bool]]:
    """(id, active) of the given endpoints."""
    query = select(WebhookEndpoint.id, WebhookEndpoint.active)
    rows = db.session.execute(query.where(WebhookEndpoint.id.in_(endpoint_ids)))
    return [(endpoint_id, active) for endpoint_id, active in rows]


def publish_event(event_type: str, data: dict[str, Any], event_id: str | None = None) -> int:
    """Record one event and queue it for every subscribed endpoint; returns the deliveries queued.

    `event_id` (the webhook-id) makes publishing idempotent: the same id is recorded once and
    never queued twice for one endpoint. The caller commits.
    """
    return publish_events(event_type, [data], [event_id] if event_id else None)


def publish_events(
    event_type: str,
    items: Sequence[dict[str, Any]],
    event_ids: Sequence[str] | None = None,
    endpoint_ids: Sequence[int] | None = None,
) -> int:
    """Record many events of one type, each once, and deliver them set-wise to the subscribed
    endpoints (or to `endpoint_ids`): queued in the outbox for active endpoints, held for disabled
    ones until they are enabled again. Returns the deliveries queued."""
    if event_type not in (*EVENT_TYPES, TEST_EVENT):
        raise ValueError(f"unknown event type {event_type!r}")
    if not items:
        return 0
    ids = list(event_ids) if event_ids else [new_message_id() for _ in items]
    events = record_events(event_type, items, ids)
    if endpoint_ids is None:
        endpoints = subscribed_endpoints(event_type)
    else:
        endpoints = endpoint_states(endpoint_ids)
    deliveries = insert_deliveries(event_type, events, endpoints)
    queued = sorted((row[0], row[1]) for row in deliveries if row[2] == "pending")
    queue_deliveries(queued, "new")
    return len(queued)


def record_events(
    event_type: str, items: Sequence[dict[str, Any]], ids: list[str]
) -> list[tuple[int, str, str]]:
    """Store each event once (an id already stored keeps its first body); returns (event id,
    message id, body) in the order of `ids`."""
    now = utcnow()
    values = [
        {
            "message_id": message_id,
            "event_type": event_type,
            "body": event_body(event_type, data, now),
            "created_at": now,
        }
        for message_id, data in zip(ids, items, strict=True)
    ]
    insert_ignoring_conflicts(WebhookEvent.__table__, values, ["message_id"])
    stored: dict[str, tuple[int, str, str]] = {}
    for start in range(0, len(ids), 2000):
        query = select(WebhookEvent.id, WebhookEvent.message_id, WebhookEvent.body)
        chunk = ids[start : start + 2000]
        for row in db.session.execute(query.where(WebhookEvent.message_id.in_(chunk))):
            stored[row.message_id] = (row.id, row.message_id, row.body)
    return [stored[message_id] for message_id in dict.fromkeys(ids)]


def insert_deliveries(
    event_type: str, events: list[tuple[int, str, str]], endpoints: list[tuple[int, bool]]
) -> list[tuple]:
    """One delivery per event and endpoint not yet delivered there: "pending" for an active
    endpoint, "held" for a disabled one; returns (id, endpoint id, status) of those inserted."""
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "endpoint_id": endpoint_id,
            "event_id": event_id,
            "message_id": message_id,
            "event_type": event_type,
            "body": body,
            "status": "pending" if active else "held",
            "attempts": 0,
            "attempt_log": [],
            "created_at": now,
        }
        for event_id, message_id, body in events
        for endpoint_id, active in endpoints
    ]
    return insert_ignoring_conflicts(
        WebhookDelivery.__table__,
        rows,
        ["endpoint_id", "message_id"],
        ("id", "endpoint_id", "status"),
    )


def queue_deliveries(deliveries: Sequence[tuple[int, int]], reason: str) -> None:
    """Put (delivery id, endpoint id) pairs in the outbox, each endpoint a lane of its own (a slow
    receiver never holds up another); `reason` keeps replays apart from the first send."""
    outbox.enqueue_many(
        [
            {
                "kind": OUTBOX_KIND,
                "payload": {"delivery_id": delivery_id},
                "dedupe_key": f"webhook:{delivery_id}:{reason}",
                "lane": f"webhook:{endpoint_id}",
            }
            for delivery_id, endpoint_id in deliveries
        ]
    )


# PostgreSQL advisory lock serialising the numbering of events ("whev" in ASCII).
NUMBERING_LOCK = 0x77686576


def number_committed_events() -> None:
    """Give committed events without a place in the event list the next places, in id order;
    the caller commits. The list is read by place, so an event a long transaction commits late
    (with an id lower than events already listed) comes after them: a reader resuming from the
    last event it saw misses none. Serialised by an advisory lock (SQLite has one writer)."""
    unnumbered = WebhookEvent.position.is_(None)
    if db.session.scalar(select(WebhookEvent.id).where(unnumbered).limit(1)) is None:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": NUMBERING_LOCK})
    last = select(func.coalesce(func.max(WebhookEvent.position), 0)).scalar_subquery()
    first = select(func.min(WebhookEvent.id)).where(unnumbered).scalar_subquery()
    db.session.execute(
        update(WebhookEvent)
        .where(unnumbered)
        .values(position=WebhookEvent.id + last - first + 1)
        .execution_options(synchronize_session=False)
    )


def scrub_event_fields(
    model: type[WebhookEvent] | type[WebhookDelivery],
    event_types: Sequence[str],
    data_ids: set[int],
    fields: Sequence[str],
) -> int:
    """Blank `fields` in the stored bodies (events, or delivery logs) of `event_types` whose data
    id is in `data_ids` (an erasure: the event list and replays then carry the anonymous
    version); returns the rows changed."""
    if not data_ids:
        return 0
    rows = db.session.execute(
        select(model.id, model.body).where(model.event_type.in_(event_types))
    ).all()
    changed = []
    for row_id, body in rows:
        event = json.loads(body)
        if event["data"].get("id") in data_ids:
            event["data"].update(dict.fromkeys(fields))
            changed.append({"id": row_id, "body": json.dumps(event, **COMPACT)})
    if changed:
        db.session.execute(update(model), changed)  # bulk UPDATE by primary key
    return len(changed)


def task_data(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "account_id": task.account_id,
        "kind": task.kind,
        "severity": task.severity,
        "title": task.title,
        "reason": task.reason,
        "owner_id": task.owner_id,
        "due_date": task.due_date.isoformat() if task.due_date else None,
    }


def publish_task_created(task: Task) -> int:
    """task.created for a flushed Task."""
    return publish_event("task.created", task_data(task), f"msg_task_{task.id}")
