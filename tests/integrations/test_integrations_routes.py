"""Admin pages: connections, test-connection, sync now, and the review queue."""

from __future__ import annotations

import re

from sqlalchemy import select

from cs_platform.extensions import db
from integrations.models import Connection, SupportTicket, UnmatchedRecord
from integrations.sync import run_sync
from tests.factories import AccountFactory
from tests.integrations.fakes.zendesk import make_ticket


def admin_client(make_user, login):
    return login(make_user("admin"))


def test_integration_pages_are_for_admins_only(client, make_user, login):
    assert client.get("/integrations/").status_code == 302  # to the login page
    login(make_user("csm"))
    assert client.get("/integrations/").status_code == 403
    assert client.get("/integrations/unmatched").status_code == 403


def test_admin_adds_a_zendesk_connection_and_tests_it(make_user, login, zendesk):
    client = admin_client(make_user, login)
    form = {"name": "Support", "base_url": zendesk.url, "settings": '{"per_page": 100}',
            "interval_minutes": "30", "request_budget": "500", "enabled": "y",
            "email": zendesk.email, "api_token": zendesk.api_token, "action": "test"}  # fmt: skip

    response = client.post("/integrations/new/zendesk", data=form, follow_redirects=True)

    assert response.status_code == 200
    assert "Test passed" in response.text
    connection = db.session.scalar(select(Connection))
    assert (connection.name, connection.interval_minutes, connection.settings) == (
        "Support", 30, {"per_page": 100})  # fmt: skip
    assert zendesk.api_token not in response.text  # never echoed back
    assert zendesk.api_token not in connection.credentials_encrypted


def test_editing_without_retyping_the_token_keeps_it_and_a_bad_token_fails_the_test(
    make_user, login, zendesk, zendesk_connection
):
    client = admin_client(make_user, login)
    url = f"/integrations/{zendesk_connection.id}/edit"
    base = {"name": "zendesk-main", "base_url": zendesk.url, "settings": "{}",
            "interval_minutes": "60", "request_budget": "100", "enabled": "y",
            "email": zendesk.email, "action": "test"}  # fmt: skip

    kept = client.post(url, data=base, follow_redirects=True)
    wrong = client.post(url, data={**base, "api_token": "nope"}, follow_redirects=True)

    assert "Test passed" in kept.text
    assert "Test failed: 401" in wrong.text


def test_a_failed_connection_test_names_the_host_and_port_it_could_not_reach(make_user, login):
    client = admin_client(make_user, login)
    form = {"name": "Support", "base_url": "http://127.0.0.1:9", "settings": "{}",
            "interval_minutes": "60", "request_budget": "100", "enabled": "y",
            "email": "ops@example.com", "api_token": "t0k", "action": "test"}  # fmt: skip

    response = client.post("/integrations/new/zendesk", data=form, follow_redirects=True)

    assert "Test failed: GET http://127.0.0.1:9/api/v2/users/me.json failed after" in response.text


def test_bad_settings_json_is_shown_as_a_field_error(make_user, login):
    client = admin_client(make_user, login)

    response = client.post(
        "/integrations/new/hubspot",
        data={
            "name": "CRM",
            "settings": "{oops",
            "interval_minutes": "60",
            "request_budget": "100",
        },
    )

    assert response.status_code == 200
    assert "Settings are not valid JSON" in response.text
    assert db.session.scalar(select(Connection)) is None


def test_a_new_event_source_shows_its_write_key_once(make_user, login):
    client = admin_client(make_user, login)
    data = {"name": "Product", "settings": "{}", "interval_minutes": "60",
            "request_budget": "100", "enabled": "y"}  # fmt: skip

    response = client.post("/integrations/new/segment", data=data)

    key = re.search(r'<code class="secret">(\S+)</code>', response.text).group(1)
    assert client.post("/v1/track", json={"type": "track", "userId": "u", "event": "E"},
                       auth=(key, "")).status_code == 200  # fmt: skip


def test_list_shows_the_last_run_and_sync_now_runs_one(
    make_user, login, zendesk, zendesk_connection, no_sleep
):
    AccountFactory(domain="acme.example")
    zendesk.add_organization(1, "Acme", ["acme.example"])
    zendesk.add_ticket(make_ticket(1, 1, 5, minutes=1))
    client = admin_client(make_user, login)

    response = client.post(f"/integrations/{zendesk_connection.id}/sync", follow_redirects=True)
    listing = client.get("/integrations/")

    assert "succeeded" in response.text
    assert db.session.scalar(select(SupportTicket.external_id)) == "1"
    assert "2 fetched" in listing.text


def test_admin_resolves_a_queued_record_by_domain(
    make_user, login, zendesk, zendesk_connection, no_sleep
):
    account = AccountFactory(domain="initech.example")
    zendesk.add_ticket(make_ticket(5, 999, 7, minutes=1))
    zendesk.tickets[0]["subject"] = "<script>alert(1)</script>"
    run_sync(zendesk_connection, sleep=no_sleep)
    client = admin_client(make_user, login)
    record = db.session.scalar(select(UnmatchedRecord))

    page = client.get("/integrations/unmatched")
    response = client.post(f"/integrations/unmatched/{record.id}/resolve",
                           data={"account": "initech.example"}, follow_redirects=True)  # fmt: skip

    assert "no account matches zendesk id 999" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "Stored tickets record 5" in response.text
    assert db.session.scalar(select(SupportTicket.account_id)) == account.id
    assert "Nothing waiting for review" in client.get("/integrations/unmatched").text


def test_resolving_needs_a_csrf_token(app, make_user, login, zendesk_connection, monkeypatch):
    record = UnmatchedRecord(connection_id=zendesk_connection.id, stream="tickets",
                             external_id="5", reason="no account", payload={"id": 5})  # fmt: skip
    db.session.add(record)
    db.session.commit()
    client = admin_client(make_user, login)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)

    response = client.post(f"/integrations/unmatched/{record.id}/resolve", data={"account": "1"})

    assert response.status_code == 400
    assert record.resolved_at is None
