"""Opting out never expires: the unsubscribe link and the RFC 8058 one-click POST work for any
invitation ever sent, expired, answered or with its campaign deleted; they only unsubscribe, and
asking twice changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import current_app

from cs_platform.extensions import db
from cs_platform.models import Contact, utcnow
from surveys.models import Invitation
from surveys.tokens import opt_out_token
from tests.factories import CampaignFactory, ContactFactory, SurveyFactory
from tests.surveys.helpers import footprint, invite, opt_out_of, token_of

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
UNSUBSCRIBED = "You will not receive any more surveys from us."


@pytest.fixture
def sent(app) -> Invitation:
    ContactFactory(name="Dana Diaz")
    [invitation] = invite(CampaignFactory())
    return invitation


def unsubscribed_at(contact_id: int) -> dt.datetime | None:
    db.session.expire_all()
    return db.session.get(Contact, contact_id).unsubscribed_at


def expire(invitation: Invitation) -> None:
    invitation.expires_at = utcnow() - dt.timedelta(minutes=1)
    db.session.commit()


def test_the_email_links_unsubscribe_to_the_lasting_opt_out_page(client, sent):
    page = client.get(f"/unsubscribe/{opt_out_of(sent)}")
    assert page.status_code == 200 and '<form method="post"' in page.text
    assert unsubscribed_at(sent.contact_id) is None  # the GET only asks


@pytest.mark.parametrize("link", ["lasting", "invitation"])
def test_an_expired_invitation_still_unsubscribes_by_page_and_one_click_post(
    client, sent, link, csrf_enabled
):
    expire(sent)
    path = (
        f"/unsubscribe/{opt_out_of(sent)}"
        if link == "lasting"
        else f"/s/{token_of(sent)}/unsubscribe"
    )
    assert client.get(f"/s/{token_of(sent)}/9").status_code == 410  # the survey has closed
    assert client.get(path).status_code == 200
    done = client.post(path, data=ONE_CLICK)
    assert done.status_code == 200 and UNSUBSCRIBED in done.text
    assert unsubscribed_at(sent.contact_id) is not None


def test_an_answered_invitation_still_unsubscribes(client, sent):
    client.post(f"/s/{token_of(sent)}/answer", data={"score": "9"})
    assert client.post(f"/s/{token_of(sent)}/unsubscribe").status_code == 200
    assert unsubscribed_at(sent.contact_id) is not None


def test_the_opt_out_link_works_after_the_campaign_and_its_survey_are_deleted(client, sent):
    path, token = f"/unsubscribe/{opt_out_of(sent)}", token_of(sent)
    invitation_id, contact_id = sent.id, sent.contact_id
    db.session.delete(sent.campaign.survey)  # cascades to the campaign and its invitations
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Invitation, invitation_id) is None
    assert client.get(f"/s/{token}/unsubscribe").status_code == 404
    assert "Unsubscribe from surveys" in client.get(path).text  # the built-in texts
    assert client.post(path, data=ONE_CLICK).status_code == 200
    assert unsubscribed_at(contact_id) is not None


def test_unsubscribing_twice_keeps_the_first_date_and_answers_the_same(client, sent):
    path = f"/unsubscribe/{opt_out_of(sent)}"
    first = client.post(path, data=ONE_CLICK)
    when = unsubscribed_at(sent.contact_id)
    second = client.post(path, data=ONE_CLICK)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.text == second.text and unsubscribed_at(sent.contact_id) == when


def test_the_opt_out_link_only_unsubscribes(client, sent):
    client.post(f"/unsubscribe/{opt_out_of(sent)}", data={"score": "0", "comment": "x"})
    assert footprint() == {
        "responses": 0, "tasks": 0, "timeline": 0, "webhooks": 0, "unsubscribed": 1,
    }  # fmt: skip
    assert client.get(f"/unsubscribe/{opt_out_of(sent)}/0").status_code == 404


def test_an_opt_out_link_speaks_the_contacts_language_in_the_surveys_own_words(client, app):
    ContactFactory(locale="fr")
    survey = SurveyFactory(texts={"fr": {"unsubscribe": "Ne plus <b>rien</b> recevoir"}})
    [invitation] = invite(CampaignFactory(survey=survey))
    page = client.get(f"/unsubscribe/{opt_out_of(invitation)}").text
    assert '<html lang="fr">' in page and "Ne plus &lt;b&gt;rien&lt;/b&gt; recevoir" in page


@pytest.mark.parametrize("tampered", ["contact", "survey", "mac"])
def test_a_tampered_opt_out_token_gets_the_friendly_404_and_unsubscribes_nobody(
    client, sent, tampered
):
    other = ContactFactory()
    contact_id, survey_id, mac = opt_out_of(sent).split(".")
    token = {
        "contact": f"{other.id}.{survey_id}.{mac}",
        "survey": f"{contact_id}.{int(survey_id) + 1}.{mac}",
        "mac": f"{contact_id}.{survey_id}.{'A' * 22}",
    }[tampered]
    page = client.post(f"/unsubscribe/{token}", data=ONE_CLICK)
    assert page.status_code == 404 and "not valid" in page.text
    assert footprint()["unsubscribed"] == 0


def test_the_opt_out_link_of_an_erased_contact_changes_nothing(client, app):
    token = opt_out_token(current_app.config["SECRET_KEY"], 999, 999)
    assert client.post(f"/unsubscribe/{token}", data=ONE_CLICK).status_code == 200
