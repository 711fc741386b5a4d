"""The daily digest as a CSM reads it: the email the real SMTP server received, opened in
Chromium at phone width, every link going to the account it names."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from cs_platform import clock
from cs_platform.digest.sending import send_due_digests
from cs_platform.extensions import db
from tests.cs_platform.accounts.workspace_data import scored_account
from tests.cs_platform.alerts.conftest import run_outbox
from tests.factories import SurveyResponseFactory
from tests.surveys.smtp import SmtpServer, SmtpSink, smtp_server_for

pytestmark = pytest.mark.browser


def test_a_csm_reads_the_morning_digest_on_a_phone(page: Page, app, make_user, tmp_path):
    csm = make_user("csm", name="Jordan Lee")
    slid = scored_account("Acme Analytics", score=25, score_30d_ago=60, owner=csm)
    renewing = clock.today() + dt.timedelta(days=20)
    scored_account("Bluth Company", score=75, owner=csm, renewal_date=renewing)
    SurveyResponseFactory(
        account=slid, score=3, comment="Exports time out", responded_at=clock.utcnow()
    )
    db.session.commit()
    morning = dt.datetime.combine(clock.today(), dt.time(23, 0))  # past 07:00 in UTC
    with smtp_server_for(app, SmtpServer(SmtpSink())) as server:
        send_due_digests(morning)
        db.session.commit()
        run_outbox()
        [message] = server.sink.messages
    page.set_viewport_size({"width": 390, "height": 844})
    page.set_content(message.get_body(("html",)).get_content())
    expect(page.get_by_role("heading", level=1)).to_contain_text("Your book today:")
    expect(page.get_by_text("NPS 3: “Exports time out”")).to_be_visible()
    link = page.get_by_role("link", name="Acme Analytics").first
    expect(link).to_have_attribute("href", f"http://127.0.0.1:5000/accounts/{slid.id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "digest-phone.png"), full_page=True)
