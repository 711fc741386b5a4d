"""A contact answers a survey from a received email in a real browser, or unsubscribes from its
page; link scanners that fetch every link of the same emails, or open them in a Chromium that hides
its automation, record nothing. The emails are the ones a real SMTP server (aiosmtpd) received from
the outbox, so the whole path is the real one."""

from __future__ import annotations

import os
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import Contact
from cs_platform.outbox import OutboxMessage
from surveys.models import Invitation, SurveyResponse
from tests.factories import AccountFactory, CampaignFactory, ContactFactory, SurveyFactory
from tests.surveys.helpers import (
    deliver_all,
    footprint,
    invite,
    links_of,
    score_link,
    subscribe_to_every_event,
)
from tests.surveys.smtp import SmtpServer, SmtpSink, smtp_server_for

pytestmark = pytest.mark.browser

# Links of one invitation email: a score link per point of the scale, then the unsubscribe link.
LINKS_PER_EMAIL = {"nps": 11 + 1, "csat": 5 + 1, "ces": 7 + 1}


def receive_invitations(app: Flask, live_server: str, kinds: Sequence[str]) -> list[EmailMessage]:
    """Invite a new contact of Acme to a survey of each kind (the fatigue rule keeps earlier
    contacts out of later campaigns) and return what the SMTP server received, one email per
    kind, with links to the live server."""
    app.config["BASE_URL"] = live_server
    try:
        with smtp_server_for(app, SmtpServer(SmtpSink())) as server:
            acme = AccountFactory(name="Acme")
            for kind in kinds:
                ContactFactory(account=acme)
                survey = SurveyFactory(
                    kind=kind, texts={}, product_name="Orbit", brand_colour="#0f766e"
                )
                invite(CampaignFactory(survey=survey))
            deliver_all()
    finally:
        app.config["BASE_URL"] = "http://127.0.0.1:5000"
    assert len(server.sink.messages) == len(kinds)
    return server.sink.messages


@pytest.fixture
def received_email(app, live_server) -> EmailMessage:
    """An NPS invitation to a contact of Acme as the SMTP server received it."""
    [email] = receive_invitations(app, live_server, ["nps"])
    invitation_id = db.session.scalar(select(Invitation.id))
    assert email["Message-ID"] == f"<survey-{invitation_id}-0@cs-platform.localhost>"
    return email


def snap(page: Page, name: str) -> None:
    """Save a full-page PNG into $SCREENSHOT_DIR when it is set, for a person to look at."""
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def recorded() -> list[SurveyResponse]:
    db.session.expire_all()
    return list(db.session.scalars(select(SurveyResponse)))


def test_a_contact_answers_from_the_email_confirms_and_comments(page: Page, received_email):
    subscribe_to_every_event()
    page.goto(score_link(received_email, 9))
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
    assert footprint() == {  # webhooks: the answer's creation, then its comment
        "responses": 1, "tasks": 0, "timeline": 1, "webhooks": 2, "unsubscribed": 0
    }  # fmt: skip


def test_a_contact_who_opened_the_zero_link_can_send_a_ten_and_no_task_opens(
    page: Page, received_email
):
    page.goto(score_link(received_email, 0))
    expect(page.get_by_role("radio", name="0", exact=True)).to_be_checked()
    page.get_by_role("radio", name="10").check()
    page.get_by_role("button", name="Send my answer").click()
    expect(page.get_by_role("heading")).to_have_text(
        "Wonderful! What do you like most about Orbit?"
    )
    assert [response.score for response in recorded()] == [10]
    assert footprint()["tasks"] == 0


def open_and_settle(tab: Page, url: str) -> list[str]:
    """Open `url` as a scanner's sandbox does: load, run whatever the page runs, wait for the
    network to go quiet; return the links the page offers to follow next."""
    tab.goto(url)
    tab.wait_for_load_state("networkidle")
    assert tab.evaluate("navigator.webdriver") is False  # nothing tells it from a person
    return tab.eval_on_selector_all("a[href]", "links => links.map(link => link.href)")


def test_a_scanner_with_its_automation_hidden_opening_every_link_records_nothing(
    scanner: Page, app, live_server
):
    """Sandboxing link scanners run JavaScript in a Chromium whose navigator.webdriver is hidden;
    they open every link of the NPS, CSAT and CES emails and the links of the pages they land
    on, and wait, but press nothing. The 0 of the NPS scale must open no detractor task."""
    subscribe_to_every_event()
    emails = receive_invitations(app, live_server, list(LINKS_PER_EMAIL))
    links = [link for email in emails for link in links_of(email)]
    assert len(links) == sum(LINKS_PER_EMAIL.values())
    before = footprint()

    found_on_pages = {found for link in links for found in open_and_settle(scanner, link)}
    further = sorted(found_on_pages - set(links))
    assert further  # each page's own unsubscribe link, which asks before it unsubscribes
    for link in further:
        open_and_settle(scanner, link)
    scanner.wait_for_timeout(1000)

    assert footprint() == before == {
        "responses": 0, "tasks": 0, "timeline": 0, "webhooks": 0, "unsubscribed": 0
    }  # fmt: skip
    assert db.session.scalars(select(OutboxMessage.kind)).all() == ["email"] * len(emails)


def test_a_contact_unsubscribes_from_the_survey_page_only_after_confirming(
    page: Page, received_email
):
    page.goto(score_link(received_email, 9))
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
