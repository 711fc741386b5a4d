"""Accessibility in a real browser: axe-core finds no serious or critical violation on the
workspace, admin and public survey pages, and every page reflows at a 390 px phone width
(WCAG 1.4.10) with the sign-out button on screen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from cs_platform import clock
from cs_platform.auth.services import create_api_key
from cs_platform.automation.engine import run_rules
from cs_platform.automation.services import save_rule
from cs_platform.extensions import db
from cs_platform.webhooks.services import create_endpoint
from integrations.models import Connection
from tests.browser.test_smoke import sign_in
from tests.cs_platform.accounts.workspace_data import scored_account
from tests.factories import (
    AuditEntryFactory,
    CampaignFactory,
    ContactFactory,
    PlaybookFactory,
    SurveyFactory,
    SurveyResponseFactory,
    TaskFactory,
)
from tests.surveys.helpers import invite, token_of

pytestmark = pytest.mark.browser
RED_RULE = {
    "trigger": {"type": "renewal_within", "days": 30},
    "steps": [
        {"action": "open_task", "title": "Prepare the renewal"},
        {"wait_days": 7},
        {
            "if": [{"field": "band", "op": "eq", "value": "red"}],
            "then": [{"action": "notify", "recipients": "owner", "message": "Still red"}],
        },
    ],
}

BLOCKING = ("serious", "critical")
PHONE = {"width": 390, "height": 844}
# Each page of the workspace and of the admin, by name; paths with {account}, {survey},
# {campaign}, {webhook} and {connection} are filled in from the `workspace` fixture.
SIGNED_IN_PAGES = {
    "risk list": "/",
    "account": "/accounts/{account}",
    "my tasks": "/tasks",
    "playbooks": "/playbooks",
    "dashboards": "/dashboards",
    "surveys admin": "/surveys/",
    "survey results": "/surveys/{survey}",
    "survey form": "/surveys/{survey}/edit",
    "campaign form": "/surveys/campaigns/{campaign}/edit",
    "campaign preview": "/surveys/campaigns/{campaign}/preview",
    "scorecard": "/admin/scoring/scorecard",
    "api keys": "/admin/api-keys/",
    "api docs": "/api/v1/docs",
    "webhooks": "/admin/webhooks/",
    "webhook": "/admin/webhooks/{webhook}",
    "integrations": "/integrations/",
    "integration": "/integrations/{connection}/edit",
    "users": "/admin/users",
    "audit log": "/admin/audit",
    "change password": "/account/password",
    "automation rules": "/automation/rules",
    "rule editor": "/automation/rules/new",
    "rule": "/automation/rules/{rule}",
    "saved views": "/views",
    "account lists": "/lists",
    "alert settings": "/settings/alerts/",
    "digest": "/digest",
}
REFLOW_PAGES = [
    "risk list",
    "account",
    "my tasks",
    "surveys admin",
    "dashboards",
    "scorecard",
    "api keys",
    "webhooks",
    "integrations",
    "users",
    "audit log",
    "automation rules",
    "rule editor",
    "rule",
    "alert settings",
    "digest",
]


@pytest.fixture
def workspace(make_user) -> dict:
    """An admin who owns a red account renewing soon with an overdue task, a survey with
    answers, a campaign with one invitation, an API key, a webhook, a connection and audit
    entries; returns the admin, the ids the paths need and the invitation's token."""
    admin = make_user("admin", name="Ada Admin")
    account = scored_account(
        "Acme Analytics",
        score=25,
        p_churn=0.6,
        owner=admin,
        renewal_date=clock.today() + dt.timedelta(days=20),
    )
    scored_account("Calm Corp", score=85, owner=admin)
    TaskFactory(account=account, owner=admin, due_date=clock.today() - dt.timedelta(days=3))
    PlaybookFactory()
    survey = SurveyFactory()
    for score in (10, 9, 6, 3):
        SurveyResponseFactory(survey=survey, account=account, score=score)
    ContactFactory(account=account, name="Dana Diaz")
    campaign = CampaignFactory(survey=survey)
    [invitation] = invite(campaign)
    create_api_key("Warehouse sync", ["read:scores"], created_by=admin)
    webhook, _ = create_endpoint("http://127.0.0.1:9/hooks", ["task.created"], allow_private=True)
    connection = Connection(name="HubSpot", kind="hubspot")
    db.session.add(connection)
    AuditEntryFactory()
    rule = save_rule(None, "Red accounts", RED_RULE, admin, confirmed=True)
    db.session.commit()
    run_rules()
    ids = {
        "rule": rule.id,
        "account": account.id,
        "survey": survey.id,
        "campaign": campaign.id,
        "webhook": webhook.id,
        "connection": connection.id,
    }
    return {"admin": admin, "ids": ids, "token": token_of(invitation)}


def path_of(name: str, workspace: dict) -> str:
    return SIGNED_IN_PAGES[name].format(**workspace["ids"])


def blocking_violations(page: Page, name: str) -> list[str]:
    """Run axe on the page; print its result and return the serious and critical rule ids."""
    violations = Axe().run(page).response["violations"]
    found = [f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes)" for v in violations]
    print(f"axe {name}: {', '.join(found) or 'no violations'}")
    return [
        f"{v['id']} at {', '.join(str(node['target']) for node in v['nodes'][:3])}"
        for v in violations
        if v["impact"] in BLOCKING
    ]


# The outermost elements that stick out to the right of the viewport, for the failure message.
OFF_SCREEN_JS = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > innerWidth + 1
    && e.parentElement.getBoundingClientRect().right <= innerWidth + 1
    && getComputedStyle(e.parentElement).overflowX === 'visible')
  .map(e => `${e.tagName.toLowerCase()}.${e.className}`
    + ` ${Math.round(e.getBoundingClientRect().right)}px`)"""


def assert_reflows(page: Page) -> None:
    """The page is no wider than the phone: nothing makes it scroll sideways."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], page.evaluate(OFF_SCREEN_JS)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A tab 390 x 844 px, the size of a common phone."""
    context = browser.new_context(viewport=PHONE)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


@pytest.mark.parametrize("name", SIGNED_IN_PAGES)
def test_a_signed_in_page_has_no_serious_or_critical_axe_violation(
    page: Page, live_server, workspace, name
):
    sign_in(page, live_server, workspace["admin"].email)
    page.goto(live_server + path_of(name, workspace))
    expect(page.locator("main")).to_be_visible()
    assert blocking_violations(page, name) == []


def test_every_public_survey_page_has_no_serious_or_critical_axe_violation(
    page: Page, live_server, workspace
):
    base = f"{live_server}/s/{workspace['token']}"
    pages = {
        "survey scale": base,
        "survey score": f"{base}/9",
        "survey unsubscribe": f"{base}/unsubscribe",
        "survey problem": f"{live_server}/s/not-a-token",
    }
    found = {}
    for name, url in pages.items():
        page.goto(url)
        found[name] = blocking_violations(page, name)
    page.goto(f"{base}/9")
    page.get_by_role("button", name="Send my answer").click()
    found["survey comment"] = blocking_violations(page, "survey comment")
    page.get_by_role("button", name="Send comment").click()
    found["survey thanks"] = blocking_violations(page, "survey thanks")
    page.goto(f"{base}/unsubscribe")
    page.get_by_role("button").first.click()
    found["survey unsubscribed"] = blocking_violations(page, "survey unsubscribed")
    assert {name: rules for name, rules in found.items() if rules} == {}


@pytest.mark.parametrize(
    ("name", "path"),
    [("sign in", "/login"), ("forgot password", "/login/forgot"),
     ("stale reset link", "/login/reset/1." + "0" * 64)],
)  # fmt: skip
def test_the_signed_out_pages_have_no_serious_or_critical_axe_violation(
    page: Page, live_server, name, path
):
    page.goto(f"{live_server}{path}")
    assert blocking_violations(page, name) == []


@pytest.mark.parametrize("name", REFLOW_PAGES)
def test_a_page_reflows_at_phone_width_with_sign_out_on_screen(
    phone: Page, live_server, workspace, name
):
    sign_in(phone, live_server, workspace["admin"].email)
    expect(phone.locator(".signout")).to_be_attached()
    phone.goto(live_server + path_of(name, workspace))
    assert_reflows(phone)
    assert blocking_violations(phone, f"{name} at 390 px") == []
    sign_out = phone.get_by_role("button", name="Sign out")
    sign_out.scroll_into_view_if_needed()
    expect(sign_out).to_be_in_viewport()


def test_the_public_score_page_reflows_at_phone_width(phone: Page, live_server, workspace):
    phone.goto(f"{live_server}/s/{workspace['token']}/9")
    assert_reflows(phone)
