"""publish_event: the one call domain code makes to announce an event to subscribed endpoints.

Events are written as WebhookDelivery rows plus outbox messages in the caller's transaction, so
they leave only after the change that caused them is committed, and never block the caller.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from cs_platform import outbox
from cs_platform.extensions import db
from cs_platform.models import Task, utcnow
from cs_platform.webhooks.models import EVENT_TYPES, TEST_EVENT, WebhookDelivery, WebhookEndpoint

OUTBOX_KIND = "webhook"
RISK_FIGURES = ("p_churn_before_renewal", "p_churn_90d", "expected_remaining_months")


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


# How event bodies are written: compact JSON, anything not JSON-native as its text.
COMPACT: dict[str, Any] = {"separators": (",", ":"), "default": str}


def event_body(event_type: str, data: dict[str, Any], at: dt.datetime) -> str:
    """The signed body: {"type", "timestamp", "data"} as compact JSON."""
    stamp = at.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": event_type, "timestamp": stamp, "data": data}, **COMPACT)


def subscribed_endpoint_ids(event_type: str) -> list[int]:
    """Active endpoints subscribing to `event_type` (a few rows, filtered here, not in SQL)."""
    endpoints = db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active)).all()
    return [endpoint.id for endpoint in endpoints if endpoint.subscribes_to(event_type)]


def publish_event(event_type: str, data: dict[str, Any], event_id: str | None = None) -> int:
    """Queue one event for every subscribed endpoint; returns the deliveries queued.

    `event_id` (the webhook-id) makes publishing idempotent: the same id is never queued twice
    for one endpoint. The caller commits.
    """
    return publish_events(event_type, [data], [event_id] if event_id else None)


def publish_events(
    event_type: str,
    items: Sequence[dict[str, Any]],
    event_ids: Sequence[str] | None = None,
    endpoint_ids: Sequence[int] | None = None,
) -> int:
    """Queue many events of one type set-wise (one INSERT for deliveries, one for the outbox)."""
    if event_type not in (*EVENT_TYPES, TEST_EVENT):
        raise ValueError(f"unknown event type {event_type!r}")
    if endpoint_ids is None:
        endpoint_ids = subscribed_endpoint_ids(event_type)
    if not items or not endpoint_ids:
        return 0
    ids = list(event_ids) if event_ids else [new_message_id() for _ in items]
    now = utcnow()
    rows = [
        {
            "endpoint_id": endpoint_id,
            "message_id": message_id,
            "event_type": event_type,
            "body": event_body(event_type, data, now),
            "status": "pending",
            "attempts": 0,
            "attempt_log": [],
            "created_at": now,
        }
        for message_id, data in zip(ids, items, strict=True)
        for endpoint_id in endpoint_ids
    ]
    table = WebhookDelivery.__table__
    statement = (
        outbox.dialect_insert(table)
        .on_conflict_do_nothing(index_elements=["endpoint_id", "message_id"])
        .returning(table.c.id, table.c.endpoint_id)
    )
    deliveries = [
        (delivery_id, endpoint_id)
        for start in range(0, len(rows), 2000)
        for delivery_id, endpoint_id in db.session.execute(statement, rows[start : start + 2000])
    ]
    queue_deliveries(deliveries, "new")
    return len(deliveries)


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


@dataclass(frozen=True)
class ScorePoint:
    """A health score as the change rule sees it."""

    score: float
    band: str


def health_score_changed(before: ScorePoint | None, after: ScorePoint, points: float) -> bool:
    """A change worth an event: the band changed, or the score moved by more than `points`.
    An account's first score is not a change."""
    if before is None:
        return False
    return before.band != after.band or abs(after.score - before.score) > points


def health_score_changes(scored_on: dt.date) -> list[dict[str, Any]]:
    """The accounts whose score of `scored_on` moved enough from their previous one to tell
    someone (band change, or more than HEALTH_CHANGE_POINTS), found set-wise."""
    from scoring.models import HealthScore

    previous = HealthScore.__table__.alias("previous")
    current = HealthScore.__table__.alias("current")
    last_before = (
        select(previous.c.id)
        .where(previous.c.account_id == current.c.account_id)
        .where(previous.c.scored_on < current.c.scored_on)
        .order_by(previous.c.scored_on.desc())
        .limit(1)
        .correlate(current)
        .scalar_subquery()
    )
    earlier = HealthScore.__table__.alias("earlier")
    rows = db.session.execute(
        select(current, earlier.c.score.label("previous_score"), earlier.c.band.label("prev_band"))
        .select_from(current)
        .join(earlier, earlier.c.id == last_before)
        .where(current.c.scored_on == scored_on)
        .order_by(current.c.account_id)
    ).all()
    points = current_app.config["HEALTH_CHANGE_POINTS"]
    return [
        {
            "account_id": row.account_id,
            "scored_on": row.scored_on.isoformat(),
            "score": row.score,
            "band": row.band,
            "previous_score": row.previous_score,
            "previous_band": row.prev_band,
            "churn_probability": row.churn_probability,
        }
        for row in rows
        if health_score_changed(
            ScorePoint(row.previous_score, row.prev_band), ScorePoint(row.score, row.band), points
        )
    ]


def publish_health_score_changes(changes: Sequence[dict[str, Any]]) -> int:
    """Announce health_score.changed for `health_score_changes`; the event id is the account
    and day, so a re-run of the same day queues nothing new."""
    return publish_events(
        "health_score.changed",
        changes,
        [f"msg_health_{change['account_id']}_{change['scored_on']}" for change in changes],
    )


def task_data(task: Any) -> dict[str, Any]:
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


def publish_task_created(task: Any) -> int:
    """task.created for a flushed Task."""
    return publish_event("task.created", task_data(task), f"msg_task_{task.id}")


def publish_risk_flags(day: dt.date, created_at: dt.datetime) -> int:
    """task.created for the tasks the nightly risk flagging inserted at `created_at`, and
    churn_risk.flagged for its churn-risk tasks with that day's risk figures (set-wise)."""
    from scoring.models import ChurnRisk

    tasks = db.session.scalars(
        select(Task).where(
            Task.created_at == created_at, Task.kind.in_(("churn_risk", "health_drop"))
        )
    ).all()
    count = publish_events(
        "task.created", [task_data(task) for task in tasks], [f"msg_task_{t.id}" for t in tasks]
    )
    flagged = [task for task in tasks if task.kind == "churn_risk"]
    risks = {
        risk.account_id: risk
        for risk in db.session.scalars(
            select(ChurnRisk).where(
                ChurnRisk.scored_on == day,
                ChurnRisk.account_id.in_([task.account_id for task in flagged]),
            )
        )
    }
    items = []
    for task in flagged:
        risk = risks.get(task.account_id)
        items.append(
            {
                "account_id": task.account_id,
                "task_id": task.id,
                "scored_on": day.isoformat(),
                "reason": task.reason,
                "title": task.title,
                **{name: getattr(risk, name) if risk else None for name in RISK_FIGURES},
            }
        )
    return count + publish_events(
        "churn_risk.flagged", items, [f"msg_churn_risk_{t.id}" for t in flagged]
    )
