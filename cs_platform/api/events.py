"""The event list: every published webhook event once, in the order it committed, so a receiver
that was down (or never had an endpoint) can fetch what it missed."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import select

from cs_platform.api.core import api_blueprint, guarded, query_args
from cs_platform.api.fields import Cursor, Text, UtcDateTime
from cs_platform.api.pagination import PageArgs, keyset_page, page_schema
from cs_platform.api.services import invalid
from cs_platform.extensions import db
from cs_platform.webhooks.events import number_committed_events
from cs_platform.webhooks.models import EVENT_TYPES, TEST_EVENT, WebhookEvent

bp = api_blueprint(
    "events_api", __name__, "Every published webhook event, for catching up.", tag="Webhooks"
)


class EventSchema(Schema):
    id = fields.String(
        attribute="message_id",
        dump_only=True,
        metadata={"description": "The webhook-id of the event's deliveries."},
    )
    type = fields.String(
        attribute="event_type", dump_only=True, metadata={"enum": list(EVENT_TYPES)}
    )
    created_at = UtcDateTime(dump_only=True)
    payload = fields.Dict(
        dump_only=True,
        metadata={
            "description": 'The body a webhook delivery carries: {"type", "timestamp", "data"}.'
        },
    )


class EventListArgs(PageArgs):
    since = Text(
        validate=validate.Length(1, 80),
        metadata={"description": "An event's id (webhook-id): only the events listed after it."},
    )
    type = fields.String(validate=validate.OneOf(EVENT_TYPES))
    cursor = Cursor(int)


@bp.route("/events", methods=["GET"])
@guarded(bp, "read:events")
@query_args(bp, EventListArgs)
@bp.response(200, page_schema(EventSchema))
def list_events(**args: Any):
    """Published events in the order they committed, oldest first, kept as long as the delivery
    log (DELIVERY_LOG_RETENTION_DAYS); `since` resumes after the last event you have."""
    number_committed_events()
    db.session.commit()
    listed = WebhookEvent.position.is_not(None)
    statement = select(WebhookEvent).where(listed, WebhookEvent.event_type != TEST_EVENT)
    if "type" in args:
        statement = statement.where(WebhookEvent.event_type == args["type"])
    if "since" in args:
        statement = statement.where(WebhookEvent.position > position_of(args["since"]))
    return keyset_page(statement, (WebhookEvent.position,), args)


def position_of(message_id: str) -> int:
    """The list position of the event with this id; 422 when there is none (any more)."""
    position = db.session.scalar(
        select(WebhookEvent.position).where(WebhookEvent.message_id == message_id)
    )
    if position is None:
        invalid("query", "since", "no such event; it may be older than the retention window")
    return position
