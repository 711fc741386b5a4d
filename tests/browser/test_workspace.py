"""A CSM's morning in a real browser: risk list, my red accounts, the top account, its task,
a note, a band override and the CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from playwright.sync_api import Page, expect

from cs_platform import clock
from tests.browser.test_smoke import sign_in
from tests.cs_platform.accounts.workspace_data import scored_account
from tests.factories import TaskFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def morning(make_user):
    """Jordan owns two red accounts and a green one; a colleague owns a bigger red one."""
    jordan = make_user("csm", name="Jordan Lee")
    colleague = make_user("csm", name="Sam Park")
    top = scored_account("Acme Analytics", arr=200_000, p_churn=0.6, score=25, owner=jordan)
    scored_account("Bluth Company", arr=50_000, p_churn=0.3, score=30, owner=jordan)
    scored_account("Calm Corp", arr=300_000, p_churn=0.05, score=85, owner=jordan)
    scored_account("Dunder Mifflin", arr=900_000, p_churn=0.7, score=20, owner=colleague)
    TaskFactory(account=top, owner=jordan, title="Usage fell by half in 30 days")
    return jordan


def test_a_csm_works_the_risk_list_and_the_top_account(page: Page, live_server, app, morning):
    app.config["WTF_CSRF_ENABLED"] = True
    sign_in(page, live_server, morning.email)
    expect(page.get_by_role("heading", name="Accounts that need action")).to_be_visible()
    expect(page.get_by_text("Calm Corp")).to_have_count(0)  # green: one click away
    page.get_by_role("link", name="Show the whole book").click()
    expect(page.get_by_role("link", name="Calm Corp")).to_be_visible()
    page.goto(f"{live_server}/")
    rows = page.locator("table.risk tbody tr")
    expect(rows.first).to_contain_text("Dunder Mifflin")  # the most ARR at risk comes first

    page.get_by_label("Owner", exact=True).select_option(label="My accounts")
    page.get_by_label("Band").select_option("red")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(f"{live_server}/?owner=me&band=red")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Acme Analytics")
    expect(rows.first).to_contain_text("Red")
    expect(page.get_by_text("Calm Corp")).to_have_count(0)
    expect(page.get_by_text("Dunder Mifflin")).to_have_count(0)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    exported = list(csv.DictReader(io.StringIO(download_info.value.path().read_text())))
    assert [row["account"] for row in exported] == ["Acme Analytics", "Bluth Company"]

    page.get_by_role("link", name="Acme Analytics").click()
    expect(page.get_by_role("heading", name="Acme Analytics")).to_be_visible()
    expect(page.get_by_role("img", name="Health score history")).to_be_visible()

    task = page.locator("#tasks li.task").first
    task.get_by_text("Snooze", exact=True).click()
    until = clock.today() + dt.timedelta(days=7)
    task.get_by_label("Snooze until").fill(until.isoformat())
    task.get_by_label("Why").fill("Champion on holiday")
    task.get_by_role("button", name="Snooze task").click()
    expect(page.get_by_role("status")).to_have_text(f"Snoozed until {until}.")
    year = f" {until.year}" if until.year != clock.today().year else ""
    expect(page.locator("#tasks")).to_contain_text(f"snoozed until {until.day} {until:%b}{year}")

    page.get_by_label("Add a note").fill("Left a voicemail for the champion")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#timeline")).to_contain_text("Left a voicemail for the champion")

    page.get_by_text("Override the band").click()
    page.get_by_label("Band", exact=True).select_option("yellow")
    page.get_by_label("Reason", exact=True).fill("Exec sponsor committed to renew")
    page.get_by_label("Until", exact=True).fill((clock.today() + dt.timedelta(days=30)).isoformat())
    page.get_by_role("button", name="Override band").click()
    expect(page.locator(".page-head")).to_contain_text("Yellow (override)")
    expect(page.locator(".page-head")).to_contain_text("model: Red")

    page.locator(".mainnav").get_by_role("link", name="Accounts").click()
    page.get_by_label("Band").select_option("yellow")
    page.get_by_label("Owner", exact=True).select_option(label="My accounts")
    page.get_by_role("button", name="Apply").click()
    expect(rows.first).to_contain_text("Yellow (override)")


def test_an_invalid_override_shows_the_reason_on_the_page(page: Page, live_server, morning):
    sign_in(page, live_server, morning.email)
    page.get_by_role("link", name="Acme Analytics").click()
    page.get_by_text("Override the band").click()
    page.get_by_label("Reason", exact=True).fill("")
    page.get_by_role("button", name="Override band").click()
    expect(page.get_by_role("alert")).to_contain_text("Give a reason")
