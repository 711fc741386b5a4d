"""An admin builds an automation rule in a real browser: fills the editor, dry-runs it, saves
it; the next run opens the task for the account's owner, the owner's Slack (a fake incoming
webhook on 127.0.0.1) gets the alert, and the run log shows both."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from cs_platform.automation.engine import run_rules
from tests.browser.test_smoke import sign_in
from tests.cs_platform.accounts.workspace_data import scored_account
from tests.cs_platform.alerts.conftest import prefer, run_outbox
from tests.factories import PlaybookFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def book(make_user, slack) -> dict:
    """An admin; a CSM whose alerts go to the fake Slack, owning three accounts (two slid)."""
    admin = make_user("admin", name="Ada Admin")
    owner = make_user("csm", name="Jordan Lee")
    prefer(owner, slack_url=slack.url)
    scored_account("Acme Analytics", score=25, score_30d_ago=60, owner=owner, segment="enterprise")
    scored_account("Bluth Company", score=20, score_30d_ago=62, owner=owner, segment="smb")
    scored_account("Calm Corp", score=85, owner=owner, segment="enterprise")
    PlaybookFactory(name="Churn-risk save plan", steps=["Review the drivers", "Book a call"])
    return {"admin": admin, "slack": slack}


def test_an_admin_builds_dry_runs_and_saves_a_rule_that_then_acts(
    page: Page, live_server, app, book, tmp_path
):
    app.config["WTF_CSRF_ENABLED"] = True
    sign_in(page, live_server, book["admin"].email)

    page.get_by_role("link", name="Automation").click()
    page.get_by_role("link", name="New rule").click()
    page.get_by_label("Name").fill("Enterprise score drops")
    page.get_by_label("When").select_option(label="Score dropped by N points in D days")
    page.get_by_label("Points").fill("20")
    page.get_by_label("Days", exact=True).fill("30")
    page.get_by_role("group", name="Segment").get_by_label("Enterprise").check()
    page.get_by_label("Open a task titled").fill("Call the executive sponsor")
    page.get_by_label("with the playbook").select_option("Churn-risk save plan")
    page.get_by_label("Notify with the message").fill("Usage and score are sliding")
    page.get_by_role("group", name="through").get_by_label("Slack").check()
    page.get_by_role("button", name="Dry run").click()

    expect(
        page.get_by_role("heading", name="Dry run: it would act on 1 account today")
    ).to_be_visible()
    results = page.get_by_role("table", name="Accounts it would act on")
    expect(results).to_contain_text("Acme Analytics")
    expect(results).to_contain_text("score dropped 35 points in 30 days")
    expect(results).not_to_contain_text("Bluth Company")
    page.screenshot(path=str(tmp_path / "rule-editor-dry-run.png"), full_page=True)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved “Enterprise score drops” (version 1).")).to_be_visible()

    run_rules()
    run_outbox()
    [alert] = book["slack"].received
    assert "Acme Analytics" in json.dumps(alert)
    assert "Usage and score are sliding: score dropped 35 points in 30 days" in json.dumps(
        alert, ensure_ascii=False
    )
    page.reload()
    log = page.get_by_role("table", name="Run log")
    expect(log).to_contain_text("Acme Analytics")
    expect(log).to_contain_text("opened task “Call the executive sponsor”")
    page.get_by_role("link", name="Acme Analytics").click()
    expect(page.get_by_text("Call the executive sponsor").first).to_be_visible()
    expect(page.get_by_text("Review the drivers").first).to_be_visible()
