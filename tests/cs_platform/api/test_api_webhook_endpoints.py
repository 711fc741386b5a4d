"""/api/v1/webhook-endpoints: endpoints registered, changed and removed through the API with the
manage:webhooks scope, the admin page's URL checks, the secret shown once, every change audited."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from cs_platform.extensions import db
from cs_platform.webhooks import services
from cs_platform.webhooks.delivery import signing_secrets
from cs_platform.webhooks.events import publish_event
from cs_platform.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import audit_trail
from tests.cs_platform.webhooks.conftest import run_outbox, serve_receiver

PUBLIC_URL = "https://93.184.215.14/hooks/cs?token=s3cret"
NEW_ENDPOINT = {"url": PUBLIC_URL, "event_types": ["health_score.changed"]}


@pytest.fixture
def manager(auth_headers) -> dict[str, str]:
    return auth_headers("manage:webhooks")


@pytest.fixture
def receiver():
    yield from serve_receiver()


def create(client, headers, **fields) -> dict:
    response = client.post("/api/v1/webhook-endpoints", json=NEW_ENDPOINT | fields, headers=headers)
    assert response.status_code == 201, response.text
    return response.json


def test_an_endpoint_is_created_with_its_secret_shown_once(client, manager):
    created = create(client, manager, description="Salesforce sync")
    assert created["secret"].startswith("whsec_")
    assert (created["url"], created["enabled"], created["description"]) == (
        PUBLIC_URL,
        True,
        "Salesforce sync",
    )
    assert signing_secrets(db.session.get(WebhookEndpoint, created["id"])) == [created["secret"]]
    shown = client.get(f"/api/v1/webhook-endpoints/{created['id']}", headers=manager).json
    listed = client.get("/api/v1/webhook-endpoints", headers=manager).json["data"]
    assert "secret" not in shown and all("secret" not in item for item in listed)
    assert shown["created_at"].endswith("+00:00")


@pytest.mark.parametrize("scope", ["read:scores", "read:events", "write:accounts"])
def test_a_key_without_manage_webhooks_is_refused_every_write(client, manager, auth_headers, scope):
    endpoint_id = create(client, manager)["id"]
    other = auth_headers(scope)
    path = f"/api/v1/webhook-endpoints/{endpoint_id}"
    answers = [
        client.post("/api/v1/webhook-endpoints", json=NEW_ENDPOINT, headers=other),
        client.patch(path, json={"enabled": False}, headers=other),
        client.delete(path, headers=other),
    ]
    assert [answer.status_code for answer in answers] == [403, 403, 403]
    db.session.expire_all()
    assert db.session.scalars(select(WebhookEndpoint.active)).all() == [True]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "ftp://93.184.215.14/hooks",
        "http://user:pw@93.184.215.14/hooks",
        "not a url",
    ],
)
def test_a_private_or_malformed_url_is_refused_with_422(client, manager, url):
    created = client.post(
        "/api/v1/webhook-endpoints", json=NEW_ENDPOINT | {"url": url}, headers=manager
    )
    endpoint_id = create(client, manager)["id"]
    changed = client.patch(
        f"/api/v1/webhook-endpoints/{endpoint_id}", json={"url": url}, headers=manager
    )
    assert (created.status_code, changed.status_code) == (422, 422)
    assert "url" in created.json["error"]["details"]["json"]
    assert db.session.get(WebhookEndpoint, endpoint_id).url == PUBLIC_URL


def test_unknown_or_no_event_types_are_refused_with_422(client, manager):
    for event_types in (["account.deleted"], []):
        response = client.post(
            "/api/v1/webhook-endpoints",
            json=NEW_ENDPOINT | {"event_types": event_types},
            headers=manager,
        )
        assert response.status_code == 422
        assert "event_types" in response.json["error"]["details"]["json"]
    assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def test_enabling_an_endpoint_through_the_api_sends_what_was_held(client, manager, receiver):
    endpoint, secret = services.create_endpoint(
        receiver.url,
        ["health_score.changed"],
        allow_private=True,  # an admin's internal one
    )
    db.session.commit()
    receiver.secrets.append(secret)
    path = f"/api/v1/webhook-endpoints/{endpoint.id}"
    disabled = client.patch(path, json={"enabled": False}, headers=manager).json
    assert (disabled["enabled"], disabled["disabled_reason"]) == (
        False,
        "disabled through the API",
    )
    publish_event("health_score.changed", {"account_id": 1}, event_id="msg_while_off")
    db.session.commit()
    run_outbox()
    assert receiver.hits == 0
    assert client.patch(path, json={"enabled": True}, headers=manager).json["enabled"] is True
    run_outbox()
    assert receiver.ids == ["msg_while_off"]


def test_a_patch_changes_only_the_fields_sent(client, manager):
    endpoint_id = create(client, manager, description="old")["id"]
    changed = client.patch(
        f"/api/v1/webhook-endpoints/{endpoint_id}",
        json={"event_types": ["task.created", "churn_risk.flagged"]},
        headers=manager,
    ).json
    assert changed["event_types"] == ["churn_risk.flagged", "task.created"]
    assert (changed["description"], changed["enabled"], changed["url"]) == ("old", True, PUBLIC_URL)


def test_a_url_changed_through_the_api_loses_an_admins_private_permission(client, manager):
    endpoint, _ = services.create_endpoint(
        "http://10.0.0.5/hooks", ["task.created"], allow_private=True
    )
    db.session.commit()
    response = client.patch(
        f"/api/v1/webhook-endpoints/{endpoint.id}", json={"url": PUBLIC_URL}, headers=manager
    )
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).allow_private is False


def test_deleting_an_endpoint_removes_it_and_its_delivery_log(client, manager):
    endpoint_id = create(client, manager)["id"]
    publish_event("health_score.changed", {"account_id": 1})
    db.session.commit()
    path = f"/api/v1/webhook-endpoints/{endpoint_id}"
    assert client.delete(path, headers=manager).status_code == 204
    assert client.get(path, headers=manager).status_code == 404
    assert client.delete(path, headers=manager).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_the_list_pages_by_id(client, manager):
    ids = [create(client, manager)["id"] for _ in range(3)]
    first = client.get("/api/v1/webhook-endpoints?limit=2", headers=manager).json
    rest = client.get(
        f"/api/v1/webhook-endpoints?limit=2&cursor={first['next_cursor']}", headers=manager
    ).json
    assert [item["id"] for item in first["data"] + rest["data"]] == ids
    assert rest["next_cursor"] is None


def test_every_change_is_audited_by_host_and_key_never_with_the_url_or_secret(client, manager):
    created = create(client, manager)
    path = f"/api/v1/webhook-endpoints/{created['id']}"
    client.patch(path, json={"description": "CRM", "enabled": False}, headers=manager)
    client.delete(path, headers=manager)
    trail = audit_trail()
    assert [entry.action for entry in trail] == [
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
        "webhook_endpoint.deleted",
    ]
    assert {entry.target for entry in trail} == {f"webhook_endpoint:{created['id']}"}
    assert all(entry.details["host"] == "93.184.215.14" for entry in trail)
    assert all(entry.details["via"] == "api" for entry in trail)
    assert trail[0].details["api_key"].startswith("csk_")
    assert trail[1].details["changed"] == ["description", "enabled"]
    logged = json.dumps([entry.details for entry in trail])
    assert "s3cret" not in logged and created["secret"] not in logged
