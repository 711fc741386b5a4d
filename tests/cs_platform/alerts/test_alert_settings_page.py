"""The alerts settings page: every signed-in user sets where their alerts go; webhook URLs are
kept encrypted and shown masked; bad input is a 422 naming the field; CSRF guards each form."""

from __future__ import annotations

import re

import pytest
from flask import current_app

from cs_platform.alerts.models import AlertPreference
from cs_platform.extensions import db
from cs_platform.models import AuditEntry, User
from tests.cs_platform.alerts.conftest import messages, run_outbox

SLACK_TOKEN = "s3cr3tS1ackT0ken"


def form(**fields) -> dict:
    values = {
        "rule_channels": ["email"],
        "escalation_channels": ["email"],
        "task_assigned_channels": ["email"],
        "timezone": "",
    }
    return values | fields


def saved(user: User) -> AlertPreference | None:
    db.session.expire_all()
    return db.session.get(AlertPreference, user.id)


def test_the_page_needs_a_login(client):
    response = client.get("/settings/alerts/")
    assert response.status_code == 302 and "/login" in response.location
    assert client.post("/settings/alerts/", data=form()).status_code == 302


def test_the_nav_links_to_the_page(csm_client):
    page = csm_client.get("/").text
    assert 'href="/settings/alerts/"' in page


def test_defaults_are_email_for_every_kind(csm_client):
    page = csm_client.get("/settings/alerts/").text
    checked = re.findall(
        r'<input checked id="(\w+)-0" name="\w+" type="checkbox" value="email">', page
    )
    assert checked == ["rule_channels", "escalation_channels", "task_assigned_channels"]


def test_a_slack_url_is_saved_encrypted_and_shown_masked(make_user, login, slack, private_targets):
    user = make_user("csm")
    client = login(user)
    data = form(slack_url=slack.url, rule_channels=["slack", "email"], timezone="Europe/Berlin")
    response = client.post("/settings/alerts/", data=data)
    assert response.status_code == 302
    preference = saved(user)
    assert preference.channels["rule"] == ["email", "slack"]
    assert SLACK_TOKEN not in preference.slack_url_encrypted
    assert db.session.get(User, user.id).timezone == "Europe/Berlin"
    page = client.get("/settings/alerts/").text
    assert SLACK_TOKEN not in page
    assert "http://127.0.0.1/…0ken" in page
    [entry] = db.session.query(AuditEntry).filter_by(action="alert_preferences.updated").all()
    assert entry.details["changed"] == ["channels", "slack_url", "timezone"]
    assert SLACK_TOKEN not in str(entry.details)


def test_a_blank_url_keeps_the_saved_one_and_remove_clears_it(
    make_user, login, slack, private_targets
):
    user = make_user("csm")
    client = login(user)
    client.post("/settings/alerts/", data=form(slack_url=slack.url))
    client.post("/settings/alerts/", data=form(slack_url=""))
    assert saved(user).slack_url_encrypted is not None
    client.post("/settings/alerts/", data=form(remove_slack="y"))
    assert saved(user).slack_url_encrypted is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"slack_url": "ftp://hooks.slack.com/x"}, "Slack webhook URL: use the https:// URL"),
        ({"teams_url": "https://127.0.0.1/hook"}, "Teams webhook URL: 127.0.0.1 resolves to a"),
        (
            {"timezone": "Mars/Olympus_Mons"},
            "Time zone: &#39;Mars/Olympus_Mons&#39; is not an IANA",
        ),
        ({"quiet_start": "22:00"}, "Quiet hours until: give both the start and the end"),
        ({"quiet_start": "25:00", "quiet_end": "07:00"}, "Quiet hours from: Not a valid time"),
    ],
)
def test_bad_input_is_refused_naming_the_field(make_user, login, fields, message):
    user = make_user("csm")
    response = login(user).post("/settings/alerts/", data=form(**fields))
    assert response.status_code == 422
    assert message in response.text
    assert saved(user) is None


def test_the_saving_form_needs_its_csrf_token(make_user, login, csrf_enabled):
    user = make_user("csm")
    current_app.config["WTF_CSRF_ENABLED"] = False
    client = login(user)
    current_app.config["WTF_CSRF_ENABLED"] = True
    assert client.post("/settings/alerts/", data=form(paused="y")).status_code == 400
    assert client.post("/settings/alerts/test/email").status_code == 400
    assert saved(user) is None and messages() == []


def test_a_viewer_sets_their_own_alerts_too(make_user, login):
    viewer = make_user("viewer")
    response = login(viewer).post("/settings/alerts/", data=form(paused="y"))
    assert response.status_code == 302 and saved(viewer).paused


def test_a_test_alert_reaches_slack(make_user, login, slack, private_targets):
    client = login(make_user("csm"))
    client.post("/settings/alerts/", data=form(slack_url=slack.url))
    response = client.post("/settings/alerts/test/slack", follow_redirects=True)
    assert "A test alert is on its way to Slack." in response.text
    run_outbox()
    [body] = slack.received
    assert body["text"].startswith("Test: Test alert: This is a test of your slack alerts")
    assert "http://127.0.0.1:5000/settings/alerts/" in body["blocks"][0]["text"]["text"]


def test_a_test_alert_to_a_channel_not_set_up_goes_by_email(csm_client):
    response = csm_client.post("/settings/alerts/test/teams", follow_redirects=True)
    assert "Microsoft Teams is not set up: the test alert goes to your email." in response.text
    assert [m.kind for m in messages()] == ["alert_email"]
    assert csm_client.post("/settings/alerts/test/pager").status_code == 404
