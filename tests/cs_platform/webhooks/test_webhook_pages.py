"""Admin pages of webhook endpoints and API keys: admins only, secrets shown once, CSRF."""

from __future__ import annotations

from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import ApiKey
from cs_platform.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import audit_trail
from tests.cs_platform.webhooks.conftest import run_outbox


def test_only_admins_see_the_webhook_and_api_key_pages(csm_client):
    assert csm_client.get("/admin/webhooks/").status_code == 403
    assert csm_client.get("/admin/api-keys/").status_code == 403


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(make_user, login, receiver):
    client = login(make_user("admin"))
    response = client.post(
        "/admin/webhooks/",
        data={"url": receiver.url, "event_types": ["task.created"], "allow_private": "y"},
    )
    assert response.status_code == 200
    assert "whsec_" in response.text
    endpoint = db.session.scalar(select(WebhookEndpoint))
    page = client.get(f"/admin/webhooks/{endpoint.id}")
    assert receiver.url in page.text and "whsec_" not in page.text


def test_a_private_target_without_the_admins_permission_is_refused_on_the_form(make_user, login):
    client = login(make_user("admin"))
    response = client.post(
        "/admin/webhooks/", data={"url": "http://127.0.0.1:8080/x", "event_types": ["task.created"]}
    )
    assert response.status_code == 422
    assert "private or loopback" in response.text
    assert db.session.scalar(select(WebhookEndpoint)) is None


def test_test_send_reaches_the_receiver_and_shows_in_the_log(make_user, login, receiver, subscribe):
    endpoint = subscribe(receiver)
    client = login(make_user("admin"))
    assert client.post(f"/admin/webhooks/{endpoint.id}/test").status_code == 302
    run_outbox()
    assert receiver.verified[0]["payload"]["type"] == "webhook.test"
    page = client.get(f"/admin/webhooks/{endpoint.id}")
    assert "webhook.test" in page.text and "HTTP 200" in page.text


def test_replay_buttons_queue_the_delivery_again(make_user, login, receiver, subscribe):
    endpoint = subscribe(receiver)
    client = login(make_user("admin"))
    client.post(f"/admin/webhooks/{endpoint.id}/test")
    run_outbox()
    delivery = db.session.scalar(select(WebhookDelivery))
    client.post(f"/admin/webhooks/{endpoint.id}/deliveries/{delivery.id}/replay")
    run_outbox()
    assert len(receiver.verified) == 2
    response = client.post(f"/admin/webhooks/{endpoint.id}/replay-failed", follow_redirects=True)
    assert "0 failed deliveries queued again" in response.text


def test_endpoint_actions_need_a_csrf_token(make_user, login, receiver, subscribe, csrf_enabled):
    endpoint = subscribe(receiver)
    client = login_with_csrf(make_user("admin"), login)
    assert client.post(f"/admin/webhooks/{endpoint.id}/active").status_code == 400
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).active


def login_with_csrf(user, login):
    """Sign in with CSRF off (the login form is not under test), then turn CSRF back on."""
    from flask import current_app

    current_app.config["WTF_CSRF_ENABLED"] = False
    client = login(user)
    current_app.config["WTF_CSRF_ENABLED"] = True
    return client


def test_an_admin_creates_a_key_sees_it_once_and_revokes_it(make_user, login):
    client = login(make_user("admin"))
    response = client.post(
        "/admin/api-keys/", data={"name": "Snowflake", "scopes": ["read:scores"]}
    )
    assert response.status_code == 200
    plaintext = response.text.split('<code class="secret">')[1].split("<")[0]
    assert plaintext.startswith("csk_")
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/api/v1/accounts", headers=headers).status_code == 200
    listing = client.get("/admin/api-keys/").text
    assert plaintext not in listing and "Snowflake" in listing
    key = db.session.scalar(select(ApiKey))
    assert client.post(f"/admin/api-keys/{key.id}/revoke").status_code == 302
    assert client.get("/api/v1/accounts", headers=headers).status_code == 401


def test_a_key_without_scopes_is_refused_with_the_form_again(make_user, login):
    client = login(make_user("admin"))
    response = client.post("/admin/api-keys/", data={"name": "No scopes"})
    assert response.status_code == 422
    assert "Choose at least one scope" in response.text


def test_each_endpoint_change_leaves_an_audit_entry_without_the_secret_or_the_url(make_user, login):
    admin = make_user("admin")
    client = login(admin)
    url = "http://127.0.0.1:9/hooks/T0PS3CRET?token=alsosecret"
    created = client.post(
        "/admin/webhooks/", data={"url": url, "event_types": ["task.created"], "allow_private": "y"}
    )
    endpoint = db.session.scalar(select(WebhookEndpoint))
    base = f"/admin/webhooks/{endpoint.id}"
    rotated = client.post(f"{base}/rotate")
    client.post(f"{base}/active")  # disable
    client.post(f"{base}/active")  # enable again
    client.post(f"{base}/test")
    delivery = db.session.scalar(select(WebhookDelivery))
    client.post(f"{base}/deliveries/{delivery.id}/replay")
    client.post(f"{base}/replay-failed")

    trail = audit_trail()
    assert [(entry.action, entry.actor_id) for entry in trail] == [
        ("webhook_endpoint.created", admin.id),
        ("webhook_endpoint.secret_rotated", admin.id),
        ("webhook_endpoint.disabled", admin.id),
        ("webhook_endpoint.enabled", admin.id),
        ("webhook_endpoint.replayed", admin.id),
        ("webhook_endpoint.replayed", admin.id),
    ]
    recorded = repr([(entry.target, entry.details) for entry in trail])
    secrets = [page.text.split("whsec_")[1][:20] for page in (created, rotated)]
    for secret in ("T0PS3CRET", "alsosecret", "whsec_", *secrets):
        assert secret not in recorded
    assert trail[0].details["host"] == "127.0.0.1"
    assert trail[4].details["delivery_id"] == delivery.id


def test_creating_and_revoking_an_api_key_leaves_audit_entries_without_the_key(make_user, login):
    admin = make_user("admin")
    client = login(admin)
    response = client.post("/admin/api-keys/", data={"name": "Looker", "scopes": ["read:scores"]})
    plaintext = response.text.split('<code class="secret">')[1].split("<")[0]
    key = db.session.scalar(select(ApiKey))
    client.post(f"/admin/api-keys/{key.id}/revoke")
    client.post(f"/admin/api-keys/{key.id}/revoke")  # already revoked: nothing more to record

    trail = audit_trail()
    assert [(entry.action, entry.actor_id, entry.target) for entry in trail] == [
        ("api_key.created", admin.id, key.prefix),
        ("api_key.revoked", admin.id, key.prefix),
    ]
    assert trail[0].details == {"name": "Looker", "scopes": ["read:scores"], "via": "admin page"}
    recorded = repr([entry.details for entry in trail])
    assert plaintext not in recorded and key.key_hash not in recorded
