"""GET /api/v1/events: every published event once, in commit order, cursor-paged, so a receiver
that was down can fetch what it missed."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from cs_platform.extensions import db
from cs_platform.webhooks import services
from cs_platform.webhooks.events import publish_events
from cs_platform.webhooks.models import WebhookDelivery, WebhookEvent


def publish_tasks(*numbers: int) -> list[str]:
    """task.created for each number, committed; returns their event ids."""
    ids = [f"msg_task_{number}" for number in numbers]
    publish_events("task.created", [{"id": number} for number in numbers], ids)
    db.session.commit()
    return ids


def listed(client, headers, **params) -> list[str]:
    """The ids of every event listed with `params`, following next_cursor to the end."""
    ids, cursor = [], None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = client.get("/api/v1/events", query_string=query, headers=headers)
        assert response.status_code == 200, response.text
        ids += [item["id"] for item in response.json["data"]]
        cursor = response.json["next_cursor"]
        if cursor is None:
            return ids


def test_a_client_pages_through_250_events_without_gaps_or_repeats(client, auth_headers):
    published = [
        id_ for start in range(0, 250, 50) for id_ in publish_tasks(*range(start, start + 50))
    ]
    headers = auth_headers("read:events")
    first = client.get("/api/v1/events?limit=100", headers=headers).json
    assert len(first["data"]) == 100 and first["next_cursor"]
    assert listed(client, headers, limit=100) == published


def test_since_resumes_after_the_last_event_the_receiver_has(client, auth_headers):
    ids = publish_tasks(1, 2, 3, 4, 5)
    headers = auth_headers("read:events")
    assert listed(client, headers, since=ids[2]) == ids[3:]
    assert listed(client, headers, since=ids[-1]) == []


def test_an_unknown_since_is_refused_naming_the_field(client, auth_headers):
    response = client.get("/api/v1/events?since=msg_gone", headers=auth_headers("read:events"))
    assert response.status_code == 422
    assert "since" in response.json["error"]["details"]["query"]


def test_type_filters_the_list_and_test_events_are_not_listed(client, auth_headers, app):
    endpoint, _ = services.create_endpoint("http://127.0.0.1:9/x", ["task.created"], "", True)
    services.send_test(endpoint)
    publish_events("churn_risk.flagged", [{"account_id": 1}], ["msg_risk"])
    tasks = publish_tasks(1)
    headers = auth_headers("read:events")
    assert listed(client, headers) == ["msg_risk", *tasks]
    assert listed(client, headers, type="task.created") == tasks


def test_an_event_carries_the_payload_its_webhooks_carry_and_its_time_in_utc(client, auth_headers):
    services.create_endpoint("http://127.0.0.1:9/x", ["task.created"], "", True)
    [event_id] = publish_tasks(42)
    [item] = client.get("/api/v1/events", headers=auth_headers("read:events")).json["data"]
    delivered = db.session.scalar(select(WebhookDelivery.body))
    assert (item["id"], item["type"]) == (event_id, "task.created")
    assert item["payload"] == json.loads(delivered)
    assert item["payload"]["timestamp"].endswith("Z")
    assert item["created_at"].endswith("+00:00")


def test_a_key_without_read_events_is_refused(client, auth_headers):
    response = client.get("/api/v1/events", headers=auth_headers("read:scores"))
    assert response.status_code == 403


@pytest.fixture
def postgres_only(app) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: no transaction commits behind another's back")


def test_an_event_committed_late_by_a_long_transaction_is_listed_after_those_seen(
    client, auth_headers, postgres_only
):
    headers = auth_headers("read:events")
    with db.engine.connect() as nightly_run:  # takes its id first, commits last
        nightly_run.execute(
            text(
                "INSERT INTO webhook_events (message_id, event_type, body, created_at) "
                "VALUES ('msg_late', 'task.created', '{\"data\":{}}', now())"
            )
        )
        seen = publish_tasks(1)
        assert listed(client, headers) == seen
        nightly_run.commit()
    late_id = db.session.scalar(
        select(WebhookEvent.id).where(WebhookEvent.message_id == "msg_late")
    )
    assert late_id < db.session.scalar(
        select(WebhookEvent.id).where(WebhookEvent.message_id == seen[0])
    )
    assert listed(client, headers, since=seen[0]) == ["msg_late"]
