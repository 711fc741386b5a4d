"""Webhook endpoints managed through the API, as on the admin page: the same URL safety checks,
the signing secret shown once, every change audited (by host, never the full URL)."""

from __future__ import annotations

from typing import Any

from flask import Response, g
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from cs_platform.api.core import api_blueprint, guarded, query_args
from cs_platform.api.fields import Cursor, JsonBoolean, Text, UtcDateTime
from cs_platform.api.pagination import PageArgs, keyset_page, page_schema
from cs_platform.api.services import api_error, invalid
from cs_platform.extensions import db
from cs_platform.webhooks import services
from cs_platform.webhooks.models import EVENT_TYPES, WebhookEndpoint
from cs_platform.webhooks.ssrf import UnsafeTargetError

bp = api_blueprint(
    "webhooks_api", __name__, "Webhook endpoints: register, change, remove.", tag="Webhooks"
)
SCOPE = "manage:webhooks"
DISABLED_BY_API = "disabled through the API"


class EndpointSchema(Schema):
    id = fields.Integer(dump_only=True)
    url = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    event_types = fields.List(fields.String(metadata={"enum": list(EVENT_TYPES)}), dump_only=True)
    enabled = JsonBoolean(attribute="active", dump_only=True)
    disabled_reason = fields.String(dump_only=True, allow_none=True)
    consecutive_failures = fields.Integer(dump_only=True)
    created_at = UtcDateTime(dump_only=True)


class CreatedEndpointSchema(EndpointSchema):
    secret = fields.String(
        dump_only=True,
        metadata={"description": "The whsec_ signing secret: shown in this answer only."},
    )


class EndpointWriteSchema(Schema):
    url = Text(
        required=True,
        validate=validate.Length(1, 2000),
        metadata={"description": "http(s) on a public address: private ones are refused."},
    )
    event_types = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        required=True,
        validate=validate.Length(min=1),
    )
    description = Text(load_default="", validate=validate.Length(max=200))
    enabled = JsonBoolean(
        load_default=True,
        metadata={"description": "Disabled endpoints get their events held, sent once enabled."},
    )


class EndpointChangeSchema(EndpointWriteSchema):
    """The fields to change (any of them)."""


class EndpointListArgs(PageArgs):
    cursor = Cursor(int)


@bp.route("/webhook-endpoints", methods=["GET"])
@guarded(bp, SCOPE)
@query_args(bp, EndpointListArgs)
@bp.response(200, page_schema(EndpointSchema))
def list_webhook_endpoints(**args: Any):
    """Webhook endpoints, oldest first."""
    return keyset_page(select(WebhookEndpoint), (WebhookEndpoint.id,), args)


@bp.route("/webhook-endpoints", methods=["POST"])
@guarded(bp, SCOPE)
@bp.arguments(EndpointWriteSchema)
@bp.response(201, CreatedEndpointSchema)
def create_webhook_endpoint(body: dict[str, Any]):
    """Register an endpoint; the answer carries its signing secret, shown this once."""
    try:
        endpoint, secret = services.create_endpoint(
            body["url"], body["event_types"], body["description"]
        )
    except (UnsafeTargetError, services.WebhookError) as error:
        invalid(
            "json", "url" if isinstance(error, UnsafeTargetError) else "event_types", str(error)
        )
    if not body["enabled"]:
        services.set_active(endpoint, False, DISABLED_BY_API)
    audit("webhook_endpoint.created", endpoint, event_types=endpoint.event_types)
    db.session.commit()
    return with_columns(endpoint, secret=secret)


@bp.route("/webhook-endpoints/<int:endpoint_id>", methods=["GET"])
@guarded(bp, SCOPE, not_found=True)
@bp.response(200, EndpointSchema)
def get_webhook_endpoint(endpoint_id: int):
    """One webhook endpoint (never its secret)."""
    return get_endpoint(endpoint_id)


@bp.route("/webhook-endpoints/<int:endpoint_id>", methods=["PATCH"])
@guarded(bp, SCOPE, not_found=True)
@bp.arguments(EndpointChangeSchema(partial=True))
@bp.response(200, EndpointSchema)
def update_webhook_endpoint(changes: dict[str, Any], endpoint_id: int):
    """Change an endpoint's URL, events, description or state; enabling it sends what was held."""
    endpoint = get_endpoint(endpoint_id)
    try:
        changed = services.update_endpoint(endpoint, changes, DISABLED_BY_API)
    except (UnsafeTargetError, services.WebhookError) as error:
        db.session.rollback()
        invalid(
            "json", "url" if isinstance(error, UnsafeTargetError) else "event_types", str(error)
        )
    if changed:
        audit("webhook_endpoint.updated", endpoint, changed=changed)
    db.session.commit()
    return endpoint


@bp.route("/webhook-endpoints/<int:endpoint_id>", methods=["DELETE"])
@guarded(bp, SCOPE, not_found=True)
@bp.response(204)
def delete_webhook_endpoint(endpoint_id: int):
    """Remove an endpoint with its delivery log; nothing more is sent to it."""
    endpoint = get_endpoint(endpoint_id)
    audit("webhook_endpoint.deleted", endpoint)
    db.session.delete(endpoint)
    db.session.commit()
    return Response(status=204)


def get_endpoint(endpoint_id: int) -> WebhookEndpoint:
    """The endpoint with this id, or 404."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        api_error(404, f"no webhook endpoint with id {endpoint_id}")
    return endpoint


def with_columns(endpoint: WebhookEndpoint, **extra: Any) -> dict[str, Any]:
    columns = {column.key: getattr(endpoint, column.key) for column in endpoint.__table__.columns}
    return {**columns, **extra}


def audit(action: str, endpoint: WebhookEndpoint, **details: object) -> None:
    """Audit like the admin page does, naming the API key that made the change."""
    services.audit_endpoint(action, endpoint, via="api", api_key=g.api_key.prefix, **details)
