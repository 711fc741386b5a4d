"""The webhook payloads in the OpenAPI document (3.1 `webhooks`) are the ones the product sends:
each event type's real body, as stored for delivery, validates against its documented schema and
carries exactly the documented fields."""

from __future__ import annotations

import datetime as dt
import json

import jsonschema_rs
import pytest
from sqlalchemy import select

from cs_platform.automation.actions import Firing, call_webhooks
from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.webhooks.events import publish_task_created
from cs_platform.webhooks.models import EVENT_TYPES, TEST_EVENT, WebhookEvent
from cs_platform.webhooks.services import create_endpoint, send_test
from scoring.events import health_score_changes, publish_health_score_changes, publish_risk_flags
from surveys.events import publish_survey_response_created, publish_survey_response_updated
from tests.factories import (
    AccountFactory,
    ChurnRiskFactory,
    HealthScoreFactory,
    SurveyResponseFactory,
    TaskFactory,
)

DAY = dt.date(2026, 6, 1)


@pytest.fixture
def spec(client) -> dict:
    return client.get("/api/v1/openapi.json").get_json()


def publish_one_event_of_each_type() -> None:
    """Every event the product sends, through the code that sends it."""
    account = AccountFactory()
    HealthScoreFactory(account=account, scored_on=DAY - dt.timedelta(days=1), score=85.0)
    HealthScoreFactory(account=account, scored_on=DAY, score=30.0)
    publish_health_score_changes(health_score_changes(DAY))
    created_at = utcnow()
    TaskFactory(account=account, kind="churn_risk", created_at=created_at)
    ChurnRiskFactory(account=account, scored_on=DAY)
    publish_risk_flags(DAY, created_at)
    publish_task_created(TaskFactory(kind="manual", severity="low", due_date=DAY))
    response = SurveyResponseFactory(account=account, comment=None)
    publish_survey_response_created(response)
    response.score, response.comment, response.updated_at = 3, "Too slow", utcnow()
    publish_survey_response_updated(response, ["score", "comment"])
    firing = Firing(7, 2, "Red accounts get a call", utcnow(), DAY)
    firing.load([account.id])
    call_webhooks(firing, [account.id], {"action": "webhook"})
    endpoint, _ = create_endpoint("http://127.0.0.1:9/hooks", ["task.created"], "", True)
    send_test(endpoint)
    db.session.commit()


def sent_bodies() -> dict[str, dict]:
    """The stored body of one event per type, as every endpoint receives it."""
    bodies = db.session.scalars(select(WebhookEvent.body).order_by(WebhookEvent.id))
    return {event["type"]: event for event in map(json.loads, bodies)}


def documented_schema(spec: dict, event_type: str) -> dict:
    """The request body schema of the event's webhook, resolvable against the document."""
    content = spec["webhooks"][event_type]["post"]["requestBody"]["content"]
    return {**content["application/json"]["schema"], "components": spec["components"]}


def resolve(spec: dict, schema: dict) -> dict:
    return spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]


def test_every_event_type_is_a_documented_webhook(spec):
    assert set(spec["webhooks"]) == {*EVENT_TYPES, TEST_EVENT}
    for operation in (item["post"] for item in spec["webhooks"].values()):
        assert operation["requestBody"]["required"] is True
        headers = {parameter["name"] for parameter in operation["parameters"]}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}


def test_every_sent_payload_matches_its_documented_schema_field_for_field(app, spec):
    publish_one_event_of_each_type()

    sent = sent_bodies()

    assert set(sent) == {*EVENT_TYPES, TEST_EVENT}
    for event_type, body in sent.items():
        schema = documented_schema(spec, event_type)
        errors = jsonschema_rs.iter_errors(schema, body, validate_formats=True)
        errors = [str(error) for error in errors]
        assert errors == [], (event_type, errors)
        envelope = resolve(spec, schema)
        data = resolve(spec, envelope["properties"]["data"])
        assert set(body["data"]) == set(data["properties"]) == set(data["required"]), event_type


def test_a_payload_off_its_schema_is_caught(spec):
    schema = documented_schema(spec, "task.created")
    body = {"type": "task.created", "timestamp": "2026-06-01T02:00:00Z", "data": {"id": "7"}}

    assert not jsonschema_rs.is_valid(schema, body, validate_formats=True)
