"""GDPR erasure: a contact's personal data goes, their answers stay as anonymous scores."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import AuditEntry, Contact, utcnow
from cs_platform.privacy import erase_contact
from cs_platform.webhooks.models import WebhookDelivery, WebhookEvent
from cs_platform.webhooks.services import create_endpoint
from surveys.events import publish_survey_response_created, publish_survey_response_updated
from surveys.models import Invitation, SurveyResponse
from surveys.survey_metrics import summarise
from tests.factories import AccountFactory, CampaignFactory, ContactFactory, SurveyResponseFactory

ANSWERED = dt.datetime(2026, 3, 10, 9, 30)


def invited_answer(contact: Contact, score: int, comment: str | None) -> SurveyResponse:
    """A response given through an invitation, as the public survey page stores it."""
    campaign = CampaignFactory()
    invitation = Invitation(
        campaign=campaign,
        contact=contact,
        account=contact.account,
        period_key="p1",
        token_hash=f"{contact.id:064d}",
        token_salt="salt",
        status="answered",
        scheduled_for=ANSWERED,
        expires_at=ANSWERED + dt.timedelta(days=30),
        answered_at=ANSWERED,
    )
    db.session.add(invitation)
    db.session.commit()
    return SurveyResponseFactory(
        survey=campaign.survey,
        account=contact.account,
        contact=contact,
        invitation=invitation,
        score=score,
        comment=comment,
        responded_at=ANSWERED,
    )


def nps_of_all() -> float | None:
    return summarise("nps", db.session.scalars(select(SurveyResponse.score))).value


def test_erasing_a_contact_removes_their_data_and_keeps_their_score_in_the_metrics(app):
    pat = ContactFactory(email="pat@acme.example", name="Pat Doe")
    other = ContactFactory(account=pat.account)
    answer = invited_answer(pat, 3, "Pat here: call me on +49 170 000000")
    kept = invited_answer(other, 10, "Love it")
    nps_before, account_id, other_id = nps_of_all(), pat.account_id, other.id

    result = erase_contact("pat@acme.example")
    db.session.commit()

    assert (result.contacts, result.responses_anonymised) == (1, 1)
    assert db.session.scalar(select(Contact).where(Contact.email == "pat@acme.example")) is None
    assert db.session.scalars(select(Invitation.contact_id)).all() == [other_id]
    anonymous = db.session.get(SurveyResponse, answer.id)
    assert (anonymous.contact_id, anonymous.invitation_id, anonymous.comment) == (None, None, None)
    assert (anonymous.score, anonymous.kind, anonymous.account_id) == (3, "nps", account_id)
    assert anonymous.responded_at == ANSWERED
    assert db.session.get(SurveyResponse, kept.id).comment == "Love it"
    assert nps_before is not None and nps_of_all() == nps_before


def test_erasure_finds_the_person_in_every_account_whatever_the_case_of_the_address(app):
    ContactFactory(email="Sam@Example.com")
    ContactFactory(email="sam@example.com", account=AccountFactory())
    ContactFactory(email="someone.else@example.com")

    assert erase_contact(" SAM@example.COM ").contacts == 2
    db.session.commit()
    assert db.session.scalars(select(Contact.email)).all() == ["someone.else@example.com"]


def test_the_erase_contact_command_records_an_audit_entry_without_the_address(app, runner):
    ContactFactory(email="kim@acme.example")

    outcome = runner.invoke(args=["erase-contact", "--email", "kim@acme.example", "--yes"])

    assert outcome.exit_code == 0, outcome.output
    assert "erased 1 contact record(s)" in outcome.output
    entry = db.session.scalar(select(AuditEntry))
    assert entry.action == "contact.erased"
    assert "kim" not in entry.target and "kim" not in str(entry.details)
    assert entry.details["contacts"] == 1


def test_the_erase_contact_command_says_when_nobody_has_the_address(app, runner):
    outcome = runner.invoke(args=["erase-contact", "--email", "nobody@acme.example", "--yes"])

    assert outcome.exit_code == 1
    assert "no contact with email nobody@acme.example" in outcome.output
    assert db.session.scalar(select(AuditEntry)) is None


def test_the_erase_contact_command_asks_before_erasing(app, runner):
    ContactFactory(email="lee@acme.example")

    outcome = runner.invoke(args=["erase-contact", "--email", "lee@acme.example"], input="n\n")

    assert outcome.exit_code == 1
    assert db.session.scalar(select(Contact.email)) == "lee@acme.example"


def test_erasure_scrubs_the_contact_from_logged_webhook_deliveries(app):
    create_endpoint("http://127.0.0.1:9/cs", ["survey_response.created"], allow_private=True)
    pat = ContactFactory(email="pat@acme.example")
    other = ContactFactory(account=pat.account)
    answer = invited_answer(pat, 2, "Pat here, my phone is +49 170 000000")
    kept = invited_answer(other, 9, "Great support")
    for response in (answer, kept):
        publish_survey_response_created(response)
    db.session.commit()

    result = erase_contact("pat@acme.example")
    db.session.commit()

    bodies = {
        event["data"]["id"]: event["data"]
        for event in map(json.loads, db.session.scalars(select(WebhookDelivery.body)))
    }
    assert result.deliveries_scrubbed == 1
    assert (bodies[answer.id]["contact_id"], bodies[answer.id]["comment"]) == (None, None)
    assert bodies[answer.id]["score"] == 2
    assert "+49 170" not in json.dumps(bodies)
    assert (bodies[kept.id]["contact_id"], bodies[kept.id]["comment"]) == (
        other.id,
        "Great support",
    )


def test_erasure_scrubs_the_comment_from_updated_events_and_the_event_list(app):
    create_endpoint("http://127.0.0.1:9/cs", ["survey_response.updated"], allow_private=True)
    pat = ContactFactory(email="pat@acme.example")
    answer = invited_answer(pat, 2, None)
    publish_survey_response_created(answer)
    answer.comment, answer.updated_at = "Call me on +49 170 000000", utcnow()
    publish_survey_response_updated(answer, ["comment"])
    db.session.commit()

    erase_contact("pat@acme.example")
    db.session.commit()

    stored = [*db.session.scalars(select(WebhookEvent.body))]
    logged = [*db.session.scalars(select(WebhookDelivery.body))]
    assert len(stored) == 2 and len(logged) == 1
    assert all("+49 170" not in body for body in [*stored, *logged])
    assert all(json.loads(body)["data"]["contact_id"] is None for body in stored)
