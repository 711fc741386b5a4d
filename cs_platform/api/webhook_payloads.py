"""The webhook events in the OpenAPI document (3.1 `webhooks`): the body of each event type as
cs_platform.webhooks.events writes it, {"type", "timestamp", "data"}, and the signature headers.

These schemas only document; the payload builders are the source of truth, and
tests/cs_platform/api/test_api_webhook_payloads.py checks real payloads against this document.
"""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from marshmallow import Schema, fields

from cs_platform.api.enums import enum_field
from cs_platform.api.schemas import DriverSchema, always_present


@always_present
class HealthScoreChangedDataSchema(Schema):
    account_id = fields.Integer()
    scored_on = fields.Date()
    score = fields.Float(metadata={"description": "0 (worst) to 100 (best)."})
    band = enum_field("Band", metadata={"description": "As announced (with hysteresis)."})
    previous_score = fields.Float(metadata={"description": "The account's previous score."})
    previous_band = enum_field("Band", metadata={"description": "The band announced before."})
    churn_probability = fields.Float(
        allow_none=True, metadata={"description": "Null for the cold-start scorecard."}
    )
    drivers = fields.List(
        fields.Nested(DriverSchema),
        metadata={"description": "Levers a CSM can act on, strongest first."},
    )


@always_present
class ChurnRiskFlaggedDataSchema(Schema):
    account_id = fields.Integer()
    task_id = fields.Integer(metadata={"description": "The churn-risk task opened."})
    scored_on = fields.Date()
    reason = fields.String()
    title = fields.String()
    p_churn_before_renewal = fields.Float(allow_none=True)
    p_churn_90d = fields.Float(allow_none=True)
    expected_remaining_months = fields.Float(
        allow_none=True, metadata={"description": "Null without a survival model."}
    )


@always_present
class SurveyResponseDataSchema(Schema):
    id = fields.Integer()
    account_id = fields.Integer()
    survey_id = fields.Integer()
    contact_id = fields.Integer(allow_none=True)
    kind = enum_field("SurveyKind")
    score = fields.Integer()
    comment = fields.String(allow_none=True)
    responded_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True, metadata={"description": "Null until changed."})


@always_present
class SurveyResponseUpdatedDataSchema(SurveyResponseDataSchema):
    changed = fields.List(enum_field("SurveyResponseChange"))


@always_present
class TaskCreatedDataSchema(Schema):
    id = fields.Integer()
    account_id = fields.Integer()
    kind = enum_field("TaskKind")
    severity = enum_field("TaskSeverity")
    title = fields.String()
    reason = fields.String()
    owner_id = fields.Integer(allow_none=True)
    due_date = fields.Date(allow_none=True)


@always_present
class AutomationRuleFiredDataSchema(Schema):
    rule_id = fields.Integer()
    rule = fields.String(metadata={"description": "The rule's name."})
    version = fields.Integer(metadata={"description": "The rule's version that acted."})
    account_id = fields.Integer()
    account = fields.String(metadata={"description": "The account's name."})


@always_present
class WebhookTestDataSchema(Schema):
    endpoint_id = fields.Integer()
    message = fields.String()


# Event type -> (schema of its `data`, when it is sent).
EVENTS: dict[str, tuple[type[Schema], str]] = {
    "health_score.changed": (
        HealthScoreChangedDataSchema,
        "A nightly run moved an account to another band, or by more than HEALTH_CHANGE_POINTS.",
    ),
    "churn_risk.flagged": (
        ChurnRiskFlaggedDataSchema,
        "The nightly risk flagging opened a churn-risk task.",
    ),
    "survey_response.created": (SurveyResponseDataSchema, "A contact answered a survey."),
    "survey_response.updated": (
        SurveyResponseUpdatedDataSchema,
        "A respondent changed the score or added or changed the comment.",
    ),
    "task.created": (TaskCreatedDataSchema, "A task was opened."),
    "automation.rule_fired": (
        AutomationRuleFiredDataSchema,
        "An automation rule with a “Call the webhooks” step acted on an account.",
    ),
    "webhook.test": (WebhookTestDataSchema, "The Send test event button (that endpoint only)."),
}
SIGNATURE_HEADERS = [
    ("webhook-id", "The event's id, the same on every retry and replay.", "string"),
    ("webhook-timestamp", "Seconds since the epoch; reject old ones.", "integer"),
    (
        "webhook-signature",
        "v1,<base64 HMAC-SHA256>; two, space-separated, while rotating.",
        "string",
    ),
]


def component_name(event_type: str) -> str:
    """health_score.changed -> HealthScoreChangedEvent."""
    return "".join(part.capitalize() for part in re.split(r"[._]", event_type)) + "Event"


def event_schema(event_type: str, data: type[Schema]) -> type[Schema]:
    """The body of one event type: {"type", "timestamp", "data"}."""
    return type(
        f"{component_name(event_type)}Schema",
        (Schema,),
        {
            "type": fields.String(required=True, metadata={"enum": [event_type]}),
            "timestamp": fields.String(
                required=True,
                metadata={"format": "date-time", "description": "When it was published (UTC)."},
            ),
            "data": fields.Nested(data, required=True),
        },
    )


def webhook_operation(event_type: str, summary: str) -> dict[str, Any]:
    """The POST a receiver gets for `event_type`."""
    return {
        "post": {
            "operationId": "receive_" + re.sub(r"\W", "_", event_type),
            "summary": summary,
            "description": "Verify the Standard Webhooks signature (docs/api.md, Webhooks).",
            "parameters": [
                {
                    "in": "header",
                    "name": name,
                    "required": True,
                    "description": text,
                    "schema": {"type": kind},
                }
                for name, text, kind in SIGNATURE_HEADERS
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{component_name(event_type)}"}
                    }
                },
            },
            "responses": {
                "2XX": {"description": "Received. Any other answer is retried for about 3 days."},
                "410": {"description": "Gone: the endpoint is disabled at once."},
            },
        }
    }


def document_webhooks(spec: APISpec) -> None:
    """Add each event's body as a schema component and the events as OpenAPI 3.1 webhooks."""
    for event_type, (data, _) in EVENTS.items():
        spec.components.schema(component_name(event_type), schema=event_schema(event_type, data))
    spec.options["webhooks"] = {
        event_type: webhook_operation(event_type, summary)
        for event_type, (_, summary) in EVENTS.items()
    }
