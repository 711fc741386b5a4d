"""A CSM sends alerts to Slack from the Alerts page in a real browser: the fake Slack incoming
webhook on 127.0.0.1 receives the test alert."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_smoke import sign_in
from tests.cs_platform.alerts.conftest import run_outbox

pytestmark = pytest.mark.browser


def test_a_csm_sets_a_slack_url_and_gets_a_test_alert(
    page: Page, live_server, app, make_user, slack
):
    app.config["WTF_CSRF_ENABLED"] = True
    csm = make_user("csm", name="Jordan Lee")
    sign_in(page, live_server, csm.email)
    page.get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()

    page.get_by_label("Slack webhook URL").fill(slack.url)
    page.get_by_label("Slack", exact=True).first.check()
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_role("button", name="Save alert settings").click()
    expect(page.get_by_text("Your alert settings are saved.")).to_be_visible()
    expect(page.locator('[data-masked="slack"]')).to_have_text("http://127.0.0.1/…0ken")
    expect(page.get_by_label("Slack webhook URL")).to_have_value("")

    page.get_by_role("button", name="Send a test alert to Slack").click()
    expect(page.get_by_text("A test alert is on its way to Slack.")).to_be_visible()
    run_outbox()
    [body] = slack.received
    assert "This is a test of your slack alerts" in body["text"]
