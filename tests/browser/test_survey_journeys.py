"""What a respondent (or a colleague testing a campaign) walks through in a real browser, from
the email the file transport wrote: a test email's pages in preview, recording nothing; an
unsubscribe after the survey link expired, by page and by RFC 8058 one-click POST; and an answer
changed from the same email, with its timeline line, comment and task following it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.mail import mail_domain
from cs_platform.models import Contact, Task, TimelineEntry, utcnow
from surveys.models import Invitation, SurveyResponse
from tests.factories import AccountFactory, CampaignFactory, ContactFactory, SurveyFactory
from tests.surveys.helpers import (
    deliver_all,
    footprint,
    invite,
    links_of,
    score_link,
    send_test_email,
    subscribe_to_every_event,
)

pytestmark = pytest.mark.browser

BANNER = "nothing you do here is recorded"


@pytest.fixture
def linked_to_live_server(app: Flask, live_server: str) -> Iterator[str]:
    """Emails written meanwhile link to the live server."""
    saved = app.config["BASE_URL"]
    app.config["BASE_URL"] = live_server
    yield live_server
    app.config["BASE_URL"] = saved


@pytest.fixture
def invitation(app, linked_to_live_server, make_user) -> Invitation:
    """An NPS invitation to Dana Diaz of Acme (owned by a CSM), sent through the outbox."""
    account = AccountFactory(name="Acme", owner_id=make_user("csm").id)
    ContactFactory(account=account, name="Dana Diaz")
    survey = SurveyFactory(texts={}, product_name="Orbit")
    [invited] = invite(CampaignFactory(survey=survey))
    assert deliver_all() == {"sent": 1}
    return invited


def written_email(app: Flask, invitation: Invitation) -> EmailMessage:
    """The invitation as the file transport wrote it, <MAIL_DIR>/<message-id>.eml."""
    path = Path(app.config["MAIL_DIR"]) / f"survey-{invitation.id}-0_{mail_domain()}.eml"
    return message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[return-value]


def expect_banner(page: Page) -> None:
    expect(page.locator(".preview-banner")).to_contain_text(BANNER)


def test_a_colleague_walks_a_test_email_in_preview_and_nothing_is_recorded(
    page: Page, linked_to_live_server
):
    ContactFactory(name="Dana Diaz")
    subscribe_to_every_event()
    email = send_test_email(CampaignFactory(survey=SurveyFactory(texts={}, product_name="Orbit")))
    page.goto(score_link(email, 3))
    expect(page.get_by_role("radio", name="3")).to_be_checked()
    expect_banner(page)
    page.get_by_role("button", name="Send my answer").click()
    expect(page.get_by_role("heading")).to_have_text(
        "We are sorry to hear that. What should we do better?"
    )
    expect_banner(page)
    page.get_by_label("Anything you would like to add?").fill("Exports fail")
    page.get_by_role("button", name="Send comment").click()
    expect(page.get_by_role("heading")).to_contain_text("Thank you!")
    expect_banner(page)
    page.get_by_role("link", name="Unsubscribe from surveys").click()
    expect(page.get_by_role("heading")).to_have_text("Unsubscribe from surveys")
    expect_banner(page)
    page.get_by_role("button", name="Unsubscribe from surveys").click()
    expect(page.get_by_role("heading")).to_have_text(
        "You will not receive any more surveys from us."
    )
    expect_banner(page)
    assert footprint() == {
        "responses": 0, "tasks": 0, "timeline": 0, "webhooks": 0, "unsubscribed": 0,
    }  # fmt: skip


def expire(invitation: Invitation) -> None:
    invitation.expires_at = utcnow() - dt.timedelta(days=1)
    db.session.commit()


def unsubscribed(contact_id: int) -> bool:
    db.session.expire_all()
    return db.session.get(Contact, contact_id).unsubscribed_at is not None


def test_the_unsubscribe_link_of_an_expired_email_still_unsubscribes(page: Page, app, invitation):
    email = written_email(app, invitation)
    expire(invitation)
    page.goto(score_link(email, 9))
    expect(page.get_by_role("heading")).to_contain_text("This survey has closed")
    page.goto(links_of(email)[-1])
    expect(page.get_by_role("heading")).to_have_text("Unsubscribe from surveys")
    assert not unsubscribed(invitation.contact_id)  # opening the link only asks
    page.get_by_role("button", name="Unsubscribe from surveys").click()
    expect(page.get_by_role("heading")).to_have_text(
        "You will not receive any more surveys from us."
    )
    assert unsubscribed(invitation.contact_id)


def test_a_one_click_post_to_an_expired_emails_list_unsubscribe_url_unsubscribes(app, invitation):
    email = written_email(app, invitation)
    expire(invitation)
    url = email["List-Unsubscribe"].strip().strip("<>")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for _ in range(2):  # a provider retrying gets the same answer
        done = requests.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=10)
        assert done.status_code == 200
    assert unsubscribed(invitation.contact_id)


def test_a_contact_changes_a_9_with_a_comment_to_a_3_from_the_same_email(
    page: Page, app, invitation
):
    email = written_email(app, invitation)
    page.goto(score_link(email, 9))
    page.get_by_role("button", name="Send my answer").click()
    page.get_by_label("Anything you would like to add?").fill("The exports are great")
    page.get_by_role("button", name="Send comment").click()
    expect(page.get_by_role("heading")).to_contain_text("Thank you!")
    page.goto(score_link(email, 3))
    expect(page.get_by_text("Your comment stays if the new score asks")).to_be_visible()
    page.get_by_role("button", name="Send my answer").click()
    expect(page.get_by_role("heading")).to_have_text(
        "We are sorry to hear that. What should we do better?"
    )
    expect(page.get_by_label("Anything you would like to add?")).to_have_value("")
    db.session.expire_all()
    [response] = db.session.scalars(select(SurveyResponse)).all()
    assert (response.score, response.comment) == (3, None)
    timeline = db.session.scalars(select(TimelineEntry.body)).all()
    assert timeline == ["NPS 3 from Dana Diaz (changed from 9)"]
    [task] = db.session.scalars(select(Task)).all()
    assert (task.kind, task.status) == ("detractor", "open")
