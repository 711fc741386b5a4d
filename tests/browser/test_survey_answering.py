"""A contact answers a survey from a received email in a real browser, or unsubscribes from its
page; a link scanner that fetches every link of the same email records nothing. The email is the
one a real SMTP server (aiosmtpd) received from the outbox, so the whole path is the real one."""

from __future__ import annotations

import os
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from cs_platform.extensions import db
from cs_platform.models import Contact, Task, TimelineEntry
from cs_platform.outbox import OutboxMessage
from surveys.models import SurveyResponse
from tests.factories import AccountFactory, CampaignFactory, ContactFactory, SurveyFactory
from tests.surveys.helpers import deliver_all, invite
from tests.surveys.smtp import SmtpServer, SmtpSink, smtp_server_for

pytestmark = pytest.mark.browser


@pytest.fixture
def received_email(app, live_server) -> EmailMessage:
    """An NPS invitation as the SMTP server received it, with links to the live server."""
    app.config["BASE_URL"] = live_server
    try:
        with smtp_server_for(app, SmtpServer(SmtpSink())) as server:
            ContactFactory(account=AccountFactory(name="Acme"), name="Dana Diaz")
            survey = SurveyFactory(texts={}, product_name="Orbit", brand_colour="#0f766e")
            [invitation] = invite(CampaignFactory(survey=survey))
            assert deliver_all() == {"sent": 1}
    finally:
        app.config["BASE_URL"] = "http://127.0.0.1:5000"
    [email] = server.sink.messages
    assert email["Message-ID"] == f"<survey-{invitation.id}-0@cs-platform.localhost>"
    return email


def snap(page: Page, name: str) -> None:
    """Save a full-page PNG into $SCREENSHOT_DIR when it is set, for a person to look at."""
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def links_of(email: EmailMessage) -> list[str]:
    html = email.get_body(("html",)).get_content()
    return re.findall(r'href="([^"]+)"', html)


def recorded() -> list[SurveyResponse]:
    db.session.expire_all()
    return list(db.session.scalars(select(SurveyResponse)))


def test_a_contact_answers_from_the_email_confirms_and_comments(page: Page, received_email):
    score_nine = next(link for link in links_of(received_email) if link.endswith("/9"))
    page.goto(score_nine)
    expect(page.get_by_role("heading")).to_contain_text("recommend Orbit")
    expect(page.get_by_role("radio", name="9")).to_be_checked()
    snap(page, "survey_score_page")
    assert recorded() == []  # opening the link recorded nothing
    page.get_by_role("button", name="Send my answer").click()
    expect(page.get_by_role("heading")).to_have_text(
        "Wonderful! What do you like most about Orbit?"
    )
    page.get_by_label("Anything you would like to add?").fill("The <b>exports</b> are great")
    snap(page, "survey_comment_page")
    page.get_by_role("button", name="Send comment").click()
    expect(page.get_by_role("heading")).to_contain_text("Thank you!")
    snap(page, "survey_thanks_page")
    [response] = recorded()
    assert (response.score, response.comment) == (9, "The <b>exports</b> are great")


def test_a_scanner_browser_with_its_automation_flag_masked_records_nothing(
    browser, received_email, live_server
):
    """Sandboxing link scanners run JavaScript in a Chromium whose navigator.webdriver is hidden;
    they open every link and wait, but press nothing."""
    context = browser.new_context()
    context.add_init_script("Object.defineProperty(navigator, 'webdriver', {get: () => false})")
    scanner = context.new_page()
    links = links_of(received_email)
    for link in links:
        scanner.goto(link)
        scanner.wait_for_load_state("networkidle")
        assert scanner.evaluate("navigator.webdriver") is False
    scanner.wait_for_timeout(1000)
    context.close()

    assert recorded() == []
    assert db.session.scalar(select(func.count()).select_from(Task)) == 0
    assert db.session.scalar(select(func.count()).select_from(TimelineEntry)) == 0
    assert db.session.scalars(select(OutboxMessage.kind)).all() == ["email"]  # the invitation
    assert db.session.scalar(select(Contact.unsubscribed_at)) is None


def test_a_contact_unsubscribes_from_the_survey_page_only_after_confirming(
    page: Page, received_email
):
    page.goto(next(link for link in links_of(received_email) if link.endswith("/9")))
    page.get_by_role("link", name="Unsubscribe from surveys").click()
    expect(page.get_by_role("heading")).to_have_text("Unsubscribe from surveys")
    assert db.session.scalar(select(Contact.unsubscribed_at)) is None  # the link only asks
    page.get_by_role("button", name="Unsubscribe from surveys").click()
    expect(page.get_by_role("heading")).to_have_text(
        "You will not receive any more surveys from us."
    )
    db.session.expire_all()
    assert db.session.scalar(select(Contact.unsubscribed_at)) is not None


def test_a_link_scanner_fetching_every_link_records_nothing(received_email, live_server):
    links = links_of(received_email)
    assert len(links) == 12  # eleven scores and the unsubscribe link
    for link in links:
        fetched = requests.get(link, timeout=10, headers={"User-Agent": "SafeLinks-Scanner"})
        assert fetched.status_code == 200, link
    assert recorded() == []
    assert db.session.scalar(select(Contact.unsubscribed_at)) is None  # GET only asks


def test_the_email_and_pages_render_on_a_phone(page: Page, received_email, tmp_path):
    html = received_email.get_body(("html",)).get_content()
    page.set_viewport_size({"width": 390, "height": 844})
    email_file = tmp_path / "email.html"
    email_file.write_text(html)
    page.goto(email_file.as_uri())
    expect(page.get_by_role("link", name="10")).to_be_visible()
    snap(page, "survey_email_phone")
    page.set_viewport_size({"width": 800, "height": 700})
    snap(page, "survey_email_desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(links_of(received_email)[10])
    expect(page.get_by_role("button", name="Send my answer")).to_be_visible()
    snap(page, "survey_score_phone")
