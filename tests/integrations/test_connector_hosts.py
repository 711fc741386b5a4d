"""Credentials go only to the vendor's own hosts: a changed base URL, a "next" link, an OAuth
instance URL or a private address never receives a token."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from werkzeug.wrappers import Request, Response

from cs_platform.extensions import db
from integrations.hosts import UnsafeHostError, policy_for
from integrations.http import HttpClient, RefusedHostError
from integrations.models import Connection, SyncRun
from integrations.sync import check_connection, run_sync
from tests.conftest import audit_trail
from tests.integrations.fakes.server import FakeVendor, json_response


class Recorder(FakeVendor):
    """A foreign host that records whatever reaches it."""

    def handle(self, request: Request) -> Response:
        return json_response({"results": [], "records": [], "done": True})


@pytest.fixture
def foreign() -> Iterator[Recorder]:
    """Served on 127.0.0.1 but addressed as `localhost`, a host nobody allowed."""
    fake = Recorder()
    fake.start()
    fake.url = fake.url.replace("127.0.0.1", "localhost")
    yield fake
    fake.stop()


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("hubspot", "https://api.hubapi.com/crm/v3/objects/companies"),
        ("zendesk", "https://acme.zendesk.com/api/v2/tickets.json"),
        ("salesforce", "https://acme.my.salesforce.com/services/data/v61.0/query"),
        ("freshdesk", "https://acme.freshdesk.com/api/v2/tickets"),
    ],
)
def test_a_vendors_own_https_hosts_are_allowed(kind, url):
    policy_for(kind, []).check(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://acme.zendesk.com/api",  # not https
        "https://acme.zendesk.com:8443/api",  # another port
        "https://zendesk.com.evil.example/api",
        "https://evilzendesk.com/api",
        "https://user:pw@acme.zendesk.com/api",
        "https://127.0.0.1/api",
        "ftp://acme.zendesk.com/api",
    ],
)
def test_anything_else_is_refused_for_a_vendor(url):
    with pytest.raises(UnsafeHostError):
        policy_for("zendesk", []).check(url)


def test_an_operator_allows_a_custom_host_by_name_or_name_and_port():
    by_name = policy_for("hubspot", ["proxy.internal"])
    by_port = policy_for("hubspot", ["proxy.internal:8080"])

    by_name.check("http://proxy.internal:9000/crm")
    by_port.check("http://proxy.internal:8080/crm")
    with pytest.raises(UnsafeHostError):
        by_port.check("http://proxy.internal:9000/crm")


def test_a_next_url_on_another_host_is_refused_before_any_request(foreign):
    client = HttpClient("https://acme.my.salesforce.com", hosts=policy_for("salesforce", []))

    with pytest.raises(RefusedHostError, match="not a salesforce API host"):
        client.get_json(f"{foreign.url}/services/data/v61.0/query/01g-2000")

    assert foreign.requests == []


def test_a_changed_hubspot_base_url_cannot_be_saved_or_tested(
    make_user, login, hubspot, hubspot_connection, foreign
):
    client = login(make_user("admin"))
    form = {"name": hubspot_connection.name, "base_url": foreign.url, "settings": "{}",
            "interval_minutes": "60", "request_budget": "100", "enabled": "y",
            "access_token": hubspot.token, "action": "test"}  # fmt: skip

    response = client.post(f"/integrations/{hubspot_connection.id}/edit", data=form)

    assert response.status_code == 400
    assert "is not a hubspot API host" in response.text
    assert foreign.requests == []
    db.session.expire_all()
    assert db.session.get(Connection, hubspot_connection.id).base_url == hubspot.url


def test_a_new_base_url_needs_the_secret_typed_again(make_user, login, zendesk_connection):
    client = login(make_user("admin"))
    form = {"name": zendesk_connection.name, "base_url": "https://other.zendesk.com",
            "settings": "{}", "interval_minutes": "60", "request_budget": "100", "enabled": "y",
            "email": "agent@example.com"}  # fmt: skip

    response = client.post(f"/integrations/{zendesk_connection.id}/edit", data=form)

    assert response.status_code == 400
    assert "credentials typed again" in response.text


def test_a_stored_foreign_base_url_fails_the_sync_without_sending_the_token(
    hubspot_connection, foreign, no_sleep
):
    hubspot_connection.base_url = foreign.url  # as if written straight into the database
    db.session.commit()

    run = run_sync(hubspot_connection, sleep=no_sleep)

    assert run.status == "failed"
    assert "refused to send credentials" in run.error
    assert foreign.requests == []


def test_a_freshdesk_link_header_to_another_host_is_not_followed(
    freshdesk, freshdesk_connection, foreign, no_sleep
):
    next_link = f'<{foreign.url}/api/v2/companies?page=2>; rel="next"'
    freshdesk.inject(200, body=[{"id": 1, "name": "Acme", "domains": ["acme.example"]}],
                     headers={"Link": next_link})  # fmt: skip

    run = run_sync(freshdesk_connection, sleep=no_sleep)

    assert run.status == "failed"
    assert "refused to send credentials" in run.error
    assert foreign.requests == []


def test_a_salesforce_instance_url_on_another_host_gets_no_token(
    salesforce, salesforce_connection, foreign
):
    salesforce.inject(200, body={"access_token": "00D-stolen", "instance_url": foreign.url})

    problem = check_connection(salesforce_connection)

    assert "refused to send credentials" in problem
    assert foreign.requests == []


def test_a_salesforce_next_records_url_on_another_host_is_not_followed(
    salesforce, salesforce_connection, foreign, no_sleep
):
    salesforce.inject(200, body={"access_token": "00D-token", "instance_url": salesforce.url})
    next_url = f"{foreign.url}/services/data/v61.0/query/01g-2000"
    salesforce.inject(200, body={"done": False, "records": [], "nextRecordsUrl": next_url})

    run = run_sync(salesforce_connection, sleep=no_sleep)

    assert run.status == "failed"
    assert "refused to send credentials" in run.error
    assert foreign.requests == []


def test_a_redirect_is_not_followed_so_a_posted_secret_stays_with_the_vendor(
    salesforce, salesforce_connection, foreign
):
    salesforce.inject(307, headers={"Location": f"{foreign.url}/services/oauth2/token"})

    problem = check_connection(salesforce_connection)

    assert "redirects are not followed" in problem
    assert f"redirected to {foreign.url}/services/oauth2/token" in problem
    assert foreign.requests == []


def test_an_http_client_cannot_be_built_without_a_host_policy():
    with pytest.raises(TypeError, match="hosts"):
        HttpClient("https://api.hubapi.com")  # type: ignore[call-arg]


def test_an_allowed_host_on_a_private_address_is_refused_without_the_private_switch(
    app, zendesk_connection, zendesk, monkeypatch
):
    monkeypatch.setitem(app.config, "INTEGRATIONS_ALLOW_PRIVATE_HOSTS", False)

    problem = check_connection(zendesk_connection)

    assert "private or loopback" in problem
    assert zendesk.requests == []


def test_connection_changes_are_audited_without_secret_values(
    make_user, login, zendesk, zendesk_connection
):
    client = login(make_user("admin"))
    form = {"name": zendesk_connection.name, "base_url": zendesk.url, "settings": "{}",
            "interval_minutes": "15", "request_budget": "100", "enabled": "y",
            "api_token": "new-secret-token", "action": "test"}  # fmt: skip

    client.post(f"/integrations/{zendesk_connection.id}/edit", data=form)

    entries = {entry.action: entry for entry in audit_trail()}
    updated = entries["connection.updated"]
    assert updated.details["changed"]["interval_minutes"] == [60, 15]
    assert updated.details["credentials"] == ["api_token"]
    assert "new-secret-token" not in json.dumps(updated.details)
    assert entries["connection.tested"].details == {"passed": False}


def session_cookie_text(client) -> str:
    """The payload of the browser's Flask session cookie (signed, not encrypted: anyone can
    read it)."""
    value = client.get_cookie("session").value
    compressed, payload = value.startswith("."), value.lstrip(".").split(".")[0]
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return (zlib.decompress(data) if compressed else data).decode()


def create_event_source(client):
    """Create the event source "Product" through the admin page; its response shows the key."""
    data = {"name": "Product", "settings": "{}", "interval_minutes": "60",
            "request_budget": "100", "enabled": "y"}  # fmt: skip
    return client.post("/integrations/new/segment", data=data)


def shown_key(response) -> str:
    """The write key a page shows once."""
    return response.text.split('<code class="secret">')[1].split("<")[0]


def test_a_new_write_key_is_shown_once_and_never_put_in_the_session_cookie(make_user, login):
    client = login(make_user("admin"))

    response = create_event_source(client)

    source = db.session.scalar(select(Connection).where(Connection.name == "Product"))
    key = shown_key(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert key not in session_cookie_text(client)
    assert client.get(f"/integrations/{source.id}/edit").text.count(key) == 0
    assert [entry.action for entry in audit_trail()][-1] == "connection.write_key_created"


def track(client, key: str) -> int:
    """The status of one tracked event sent with `key`."""
    event = {"type": "track", "userId": "u", "event": "Opened"}
    return client.post("/v1/track", json=event, auth=(key, "")).status_code


def test_rotating_a_write_key_shows_the_new_one_once_and_retires_the_old(make_user, login):
    client = login(make_user("admin"))
    old_key = shown_key(create_event_source(client))
    source = db.session.scalar(select(Connection).where(Connection.name == "Product"))

    response = client.post(f"/integrations/{source.id}/write-key")

    new_key = shown_key(response)
    assert new_key != old_key
    assert response.headers["Cache-Control"] == "no-store"
    assert new_key not in session_cookie_text(client)
    assert (track(client, old_key), track(client, new_key)) == (401, 200)
    assert [entry.action for entry in audit_trail()][-1] == "connection.write_key_rotated"


def test_only_event_sources_have_a_write_key_to_rotate(make_user, login, zendesk_connection):
    client = login(make_user("admin"))

    response = client.post(f"/integrations/{zendesk_connection.id}/write-key")

    assert response.status_code == 404
    assert "connection.write_key_rotated" not in [entry.action for entry in audit_trail()]


def test_deleting_a_connection_needs_the_box_ticked_and_is_audited(
    make_user, login, zendesk, zendesk_connection, no_sleep
):
    client = login(make_user("admin"))
    run_sync(zendesk_connection, sleep=no_sleep)
    connection_id = zendesk_connection.id

    unconfirmed = client.post(f"/integrations/{connection_id}/delete", follow_redirects=True)
    assert "tick the box" in unconfirmed.text
    assert db.session.get(Connection, connection_id) is not None

    client.post(f"/integrations/{connection_id}/delete", data={"confirm": "y"})

    db.session.expire_all()
    assert db.session.get(Connection, connection_id) is None
    assert db.session.scalar(select(SyncRun).where(SyncRun.connection_id == connection_id)) is None
    deleted = audit_trail()[-1]
    assert (deleted.action, deleted.target) == ("connection.deleted", "zendesk-main")
    assert deleted.details == {"kind": "zendesk", "base_url": zendesk.url}


def test_an_event_source_made_on_the_command_line_is_audited(runner):
    made = runner.invoke(args=["integrations", "add-event-source", "product"])

    entry = audit_trail()[-1]
    assert (entry.action, entry.target, entry.details) == (
        "connection.write_key_created",
        "product",
        {"via": "cli"},
    )
    assert made.output.strip().splitlines()[-1] not in json.dumps(entry.details)
