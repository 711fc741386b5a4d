"""Preview mode: the "Send a test" email's links open the real respondent pages with a banner
on each, and nothing a colleague does there is recorded."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import current_app

from cs_platform.extensions import db
from surveys.tokens import opt_out_token, preview_campaign_id, preview_token
from tests.factories import CampaignFactory, ContactFactory, SurveyFactory
from tests.surveys.helpers import (
    footprint,
    invite,
    links_of,
    send_test_email,
    subscribe_to_every_event,
    token_of,
)

BANNER = "nothing you do here is recorded"
NOTHING = {"responses": 0, "tasks": 0, "timeline": 0, "webhooks": 0, "unsubscribed": 0}


@pytest.fixture
def test_links(app) -> list[str]:
    """The paths of a test email's links: eleven scores, then unsubscribe."""
    ContactFactory(name="Dana Diaz")  # a contact who must stay untouched
    survey = SurveyFactory(texts={}, product_name="Orbit")
    subscribe_to_every_event()
    email = send_test_email(CampaignFactory(survey=survey))
    assert email["Subject"].startswith("[Test]")
    return [urlsplit(link).path for link in links_of(email)]


def test_every_link_of_a_test_email_opens_its_page_with_the_preview_banner(client, test_links):
    assert len(test_links) == 12
    for path in test_links:
        page = client.get(path)
        assert page.status_code == 200, path
        assert BANNER in page.text and page.headers["Cache-Control"] == "no-store"
    assert test_links[-1].endswith("/unsubscribe")


def test_walking_a_test_email_end_to_end_records_nothing(client, test_links):
    base = test_links[3].rpartition("/")[0]
    answered = client.post(f"{base}/answer", data={"score": "3"})
    assert answered.status_code == 303 and answered.location.endswith("/comment?score=3")
    comment_page = client.get(answered.location)
    assert "What should we do better?" in comment_page.text and BANNER in comment_page.text
    assert 'action="/s/' in comment_page.text and '/comment?score=3"' in comment_page.text
    saved = client.post(answered.location, data={"comment": "Exports fail"})
    assert saved.status_code == 303 and saved.location.endswith("/thanks")
    assert BANNER in client.get(saved.location).text
    unsubscribed = client.post(f"{base}/unsubscribe", data={"List-Unsubscribe": "One-Click"})
    assert "You will not receive any more surveys" in unsubscribed.text
    assert BANNER in unsubscribed.text
    assert footprint() == NOTHING


def test_a_preview_comment_page_without_a_score_goes_back_to_the_scale(client, test_links):
    base = test_links[0].rpartition("/")[0]
    assert client.get(f"{base}/comment").location.endswith(base)
    assert client.post(f"{base}/answer", data={"score": "11"}).status_code == 400


def test_a_preview_token_is_signed_per_campaign_and_opens_nothing_else(app, client):
    ContactFactory()
    campaign = CampaignFactory()
    [invitation] = invite(campaign)
    secret = current_app.config["SECRET_KEY"]
    token = preview_token(secret, campaign.id)
    assert preview_campaign_id(secret, token) == campaign.id
    forged = f"{campaign.id + 1}.{token.partition('.')[2]}"
    assert preview_campaign_id(secret, forged) is None
    assert client.get(f"/s/{forged}/9").status_code == 404
    assert preview_campaign_id("another key", token) is None
    assert preview_campaign_id(secret, token_of(invitation)) is None
    opt_out = opt_out_token(secret, invitation.contact_id, campaign.survey_id)
    assert preview_campaign_id(secret, opt_out) is None
    assert client.get(f"/s/{opt_out}/9").status_code == 404


def test_the_preview_of_a_deleted_campaign_is_not_valid(app, client):
    campaign = CampaignFactory()
    token = preview_token(current_app.config["SECRET_KEY"], campaign.id)
    db.session.delete(campaign)
    db.session.commit()
    assert client.get(f"/s/{token}/9").status_code == 404
