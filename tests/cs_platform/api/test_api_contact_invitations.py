"""Asking a contact for feedback through the API: POST /contacts/{id}/survey-invitations makes
one invitation through a campaign, gives it back for a repeated reference, refuses contacts who
may not be asked (409 with the reason) and campaigns that cannot send (422), and is audited."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.outbox import OutboxMessage
from surveys.models import Invitation
from tests.conftest import audit_trail
from tests.cs_platform.api.test_api_endpoints import assert_error
from tests.factories import CampaignFactory, ContactFactory


def url(contact) -> str:
    return f"/api/v1/contacts/{contact.id}/survey-invitations"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def sender(auth_headers) -> dict[str, str]:
    return auth_headers("send:surveys")


@pytest.fixture
def campaign():
    """An NPS campaign sending 9-11 on weekdays in the contact's zone, throttled to 90 days."""
    return CampaignFactory(window_start_hour=9, window_end_hour=11, weekdays_only=True)


def test_a_contact_is_invited_in_the_campaigns_window_in_their_zone_and_audited(
    client, sender, campaign
):
    contact = ContactFactory(timezone="America/Chicago")
    body = {"campaign_id": campaign.id, "reference": "deal-4711"}

    response = client.post(url(contact), json=body, headers=sender)

    assert response.status_code == 201, response.text
    invitation = response.get_json()
    assert set(invitation) == {"id", "campaign_id", "contact_id", "account_id", "status",
                               "scheduled_for", "expires_at", "created_at"}  # fmt: skip
    assert (invitation["contact_id"], invitation["status"]) == (contact.id, "scheduled")
    local = dt.datetime.fromisoformat(invitation["scheduled_for"]).astimezone(
        ZoneInfo("America/Chicago")
    )
    assert 9 <= local.hour < 11 and local.weekday() < 5
    [email] = db.session.scalars(select(OutboxMessage)).all()
    assert email.payload == {"template": "invitation", "invitation_id": invitation["id"]}
    entry = audit_trail()[-1]
    assert (entry.action, entry.target) == ("survey_invitation.requested", f"contact {contact.id}")
    assert entry.details["reference"] == "deal-4711"
    assert sender["Authorization"].removeprefix("Bearer ").startswith(entry.details["api_key"])


def test_send_at_now_queues_the_email_for_now(client, sender, campaign):
    contact = ContactFactory()
    before = utcnow().replace(microsecond=0)
    body = {"campaign_id": campaign.id, "send_at": "now"}
    invitation = client.post(url(contact), json=body, headers=sender).get_json()
    scheduled = dt.datetime.fromisoformat(invitation["scheduled_for"]).replace(tzinfo=None)
    assert before <= scheduled <= utcnow()
    assert db.session.scalar(select(OutboxMessage.next_attempt_at)) == scheduled


def test_the_same_reference_again_answers_200_with_the_first_invitation(client, sender, campaign):
    contact = ContactFactory()
    body = {"campaign_id": campaign.id, "reference": "deal-4711", "send_at": "now"}

    first = client.post(url(contact), json=body, headers=sender)
    again = client.post(url(contact), json=body, headers=sender)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert (count(Invitation), count(OutboxMessage)) == (1, 1)
    assert [e.action for e in audit_trail()] == ["survey_invitation.requested"]


def test_without_a_reference_a_repeat_is_a_new_request_and_meets_the_throttle(
    client, sender, campaign
):
    contact = ContactFactory()
    body = {"campaign_id": campaign.id}
    assert client.post(url(contact), json=body, headers=sender).status_code == 201
    details = assert_error(client.post(url(contact), json=body, headers=sender), 409, "conflict")
    assert details == {"reason": ["campaign_throttle"]}
    assert count(Invitation) == 1


def earlier_invitation(contact, campaign, days_ago: int) -> None:
    """An invitation `days_ago` days old of `campaign` to `contact`."""
    created = utcnow() - dt.timedelta(days=days_ago)
    db.session.add(
        Invitation(campaign_id=campaign.id, contact_id=contact.id, account_id=contact.account_id,
                   period_key="p1", token_hash=f"h{contact.id}", token_salt="s", status="sent",
                   scheduled_for=created, expires_at=created, created_at=created)
    )  # fmt: skip
    db.session.commit()


@pytest.mark.parametrize(
    ("reason", "prepare"),
    [
        ("unsubscribed", lambda contact, campaign: setattr(contact, "unsubscribed_at", utcnow())),
        ("bounced", lambda contact, campaign: setattr(contact, "bounced_at", utcnow())),
        ("global_fatigue",
         lambda contact, campaign: earlier_invitation(contact, CampaignFactory(), 30)),
        ("campaign_throttle", lambda contact, campaign: earlier_invitation(contact, campaign, 30)),
    ],
)  # fmt: skip
def test_a_contact_who_may_not_be_asked_is_a_409_naming_the_reason(
    client, sender, campaign, reason, prepare
):
    contact = ContactFactory()
    prepare(contact, campaign)
    db.session.commit()
    before = count(Invitation)

    response = client.post(url(contact), json={"campaign_id": campaign.id}, headers=sender)

    assert assert_error(response, 409, "conflict") == {"reason": [reason]}
    assert count(Invitation) == before
    assert count(OutboxMessage) == 0


def test_ignore_fatigue_asks_inside_the_fatigue_window_and_the_throttle(client, sender, campaign):
    contact = ContactFactory(last_surveyed_at=utcnow() - dt.timedelta(days=3))
    earlier_invitation(contact, campaign, 10)
    body = {"campaign_id": campaign.id, "ignore_fatigue": True}
    response = client.post(url(contact), json=body, headers=sender)
    assert response.status_code == 201, response.text
    assert audit_trail()[-1].details["ignore_fatigue"] is True


@pytest.mark.parametrize("flag", ["unsubscribed_at", "bounced_at"])
def test_ignore_fatigue_never_asks_an_unsubscribed_or_bouncing_contact(
    client, sender, campaign, flag
):
    contact = ContactFactory(**{flag: utcnow()})
    body = {"campaign_id": campaign.id, "ignore_fatigue": True}
    response = client.post(url(contact), json=body, headers=sender)
    assert assert_error(response, 409, "conflict") == {"reason": [flag.removesuffix("_at")]}


def test_a_paused_or_unknown_campaign_is_a_422_naming_campaign_id(client, sender):
    contact = ContactFactory()
    paused = CampaignFactory(status="paused")
    for campaign_id, message in ((paused.id, f"campaign {paused.id} is paused; resume it first"),
                                 (424242, "no campaign with id 424242")):  # fmt: skip
        response = client.post(url(contact), json={"campaign_id": campaign_id}, headers=sender)
        details = assert_error(response, 422, "unprocessable_entity")
        assert details == {"json": {"campaign_id": [message]}}
    assert count(Invitation) == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"campaign_id": "1"}, {"campaign_id": 1, "reference": "deal 4711"},
     {"campaign_id": 1, "reference": "x" * 65}, {"campaign_id": 1, "send_at": "tomorrow"}],
)  # fmt: skip
def test_a_malformed_request_is_a_422(client, sender, body):
    response = client.post(url(ContactFactory()), json=body, headers=sender)
    assert assert_error(response, 422, "unprocessable_entity")["json"]


def test_an_unknown_contact_is_a_404(client, sender, campaign):
    response = client.post(
        "/api/v1/contacts/999999/survey-invitations",
        json={"campaign_id": campaign.id},
        headers=sender,
    )
    assert_error(response, 404, "not_found")


def test_asking_needs_the_send_surveys_scope(client, auth_headers, campaign):
    headers = auth_headers("read:contacts", "write:contacts", "read:surveys")
    response = client.post(url(ContactFactory()), json={"campaign_id": campaign.id},
                           headers=headers)  # fmt: skip
    assert_error(response, 403, "forbidden")
    assert count(Invitation) == 0


@pytest.mark.parametrize("flag", [0, 1, "true", "yes", None])
def test_ignore_fatigue_takes_only_a_json_boolean(client, sender, campaign, flag):
    body = {"campaign_id": campaign.id, "ignore_fatigue": flag}

    response = client.post(url(ContactFactory()), json=body, headers=sender)

    assert "ignore_fatigue" in assert_error(response, 422, "unprocessable_entity")["json"]
    assert count(Invitation) == 0
