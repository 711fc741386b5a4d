"""invite_contact: one named contact invited through a campaign by the planning run's own insert,
in the contact's send window or at once; a reference makes a retry give back the same invitation;
unsubscribed and bouncing contacts are never asked, fatigue and throttle unless ignored. And the
whole way through: the API call, the outbox, the SMTP server, the click and the answer."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from cs_platform.auth.services import create_api_key
from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.outbox import OutboxMessage
from surveys.models import Invitation, SurveyResponse
from surveys.planning import invite_contact, plan_campaign
from surveys.schedule import zone
from surveys.tokens import hash_token
from tests.factories import AccountFactory, CampaignFactory, ContactFactory, SurveyFactory
from tests.surveys.helpers import deliver_all, score_link, token_of

SATURDAY_NOON = dt.datetime(2026, 3, 7, 12, 0)  # UTC; 13:00 in Berlin, no window on weekends


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def campaign():
    """An NPS campaign sending 9-11 on weekdays in the contact's zone, throttled to 90 days."""
    return CampaignFactory(window_start_hour=9, window_end_hour=11, weekdays_only=True)


def invite(campaign, contact, reference: str | None = "deal-4711", now=SATURDAY_NOON, **options):
    outcome = invite_contact(campaign, contact, reference, now, **options)
    db.session.commit()
    return outcome


def test_a_contact_is_invited_in_the_next_window_of_their_zone_with_its_email_queued(app, campaign):
    contact = ContactFactory(timezone="Europe/Berlin")

    outcome = invite(campaign, contact)

    assert outcome.created and outcome.refused is None
    invitation = outcome.invitation
    local = invitation.scheduled_for.replace(tzinfo=dt.UTC).astimezone(zone("Europe/Berlin"))
    assert (local.date(), 9 <= local.hour < 11) == (dt.date(2026, 3, 9), True)  # Monday
    assert invitation.period_key == "api:deal-4711"
    assert invitation.expires_at == invitation.scheduled_for + dt.timedelta(days=30)
    assert invitation.token_hash == hash_token(token_of(invitation))
    [email] = db.session.scalars(select(OutboxMessage)).all()
    assert (email.dedupe_key, email.next_attempt_at) == (
        f"invitation:{invitation.id}:0",
        invitation.scheduled_for,
    )


def test_immediately_schedules_the_invitation_and_its_email_for_now(app, campaign):
    invitation = invite(campaign, ContactFactory(), immediately=True).invitation
    assert invitation.scheduled_for == SATURDAY_NOON
    assert db.session.scalar(select(OutboxMessage.next_attempt_at)) == SATURDAY_NOON


def test_the_same_reference_gives_back_the_invitation_it_made_and_queues_nothing_more(
    app, campaign
):
    contact = ContactFactory()
    first = invite(campaign, contact)
    again = invite(campaign, contact, now=SATURDAY_NOON + dt.timedelta(hours=1))
    assert (first.created, again.created) == (True, False)
    assert again.invitation.id == first.invitation.id
    assert (count(Invitation), count(OutboxMessage)) == (1, 1)


def test_without_a_reference_every_call_is_a_new_invitation(app, campaign):
    contact = ContactFactory()
    keys = {
        invite(campaign, contact, None, ignore_fatigue=True).invitation.period_key for _ in range(2)
    }
    assert len(keys) == 2 and all(key.startswith("api:~") for key in keys)


@pytest.mark.parametrize(
    ("reason", "changes"),
    [("unsubscribed", {"unsubscribed_at": SATURDAY_NOON}),
     ("bounced", {"bounced_at": SATURDAY_NOON}),
     ("global_fatigue", {"last_surveyed_at": SATURDAY_NOON - dt.timedelta(days=60)})],
)  # fmt: skip
def test_a_contact_who_may_not_be_asked_is_refused_with_the_reason(app, campaign, reason, changes):
    outcome = invite(campaign, ContactFactory(**changes))
    assert (outcome.invitation, outcome.created, outcome.refused) == (None, False, reason)
    assert count(Invitation) == count(OutboxMessage) == 0


def test_the_campaigns_throttle_refuses_a_second_request_with_another_reference(app, campaign):
    contact = ContactFactory()
    invite(campaign, contact)
    assert invite(campaign, contact, "deal-4712").refused == "campaign_throttle"
    later = SATURDAY_NOON + dt.timedelta(days=campaign.throttle_days + 1)
    assert invite(campaign, contact, "deal-4713", now=later).created


def test_an_invitation_of_another_campaign_counts_as_global_fatigue(app, campaign):
    contact = ContactFactory()
    invite(CampaignFactory(), contact, "onboarding")
    assert invite(campaign, contact).refused == "global_fatigue"


def test_cancelled_invitations_and_other_contacts_surveys_do_not_count(app, campaign):
    contact = ContactFactory()
    invite(campaign, contact, "deal-1").invitation.status = "cancelled"
    ContactFactory(last_surveyed_at=SATURDAY_NOON, account=contact.account)
    db.session.commit()
    assert invite(campaign, contact, "deal-2").created


def test_ignore_fatigue_overrides_fatigue_and_throttle_but_never_an_unsubscribe_or_a_bounce(
    app, campaign
):
    tired = ContactFactory(last_surveyed_at=SATURDAY_NOON - dt.timedelta(days=1))
    invite(campaign, tired, "deal-1", ignore_fatigue=True)
    assert invite(campaign, tired, "deal-2", ignore_fatigue=True).created
    for gone in ({"unsubscribed_at": SATURDAY_NOON}, {"bounced_at": SATURDAY_NOON}):
        assert invite(campaign, ContactFactory(**gone), ignore_fatigue=True).refused


def test_a_paused_campaign_invites_nobody(app):
    outcome = invite(CampaignFactory(status="paused"), ContactFactory())
    assert outcome.refused == "paused"


def test_the_campaigns_audience_rule_does_not_apply_to_a_named_contact(app):
    campaign = CampaignFactory(audience={"roles": ["executive"]})
    churned = AccountFactory(lifecycle_stage="churned", churned_at=dt.date(2026, 3, 1))
    assert invite(campaign, ContactFactory(role="billing", account=churned)).created


def test_the_campaigns_own_runs_hold_back_a_contact_just_invited_through_it(app, campaign):
    invited, other = ContactFactory(), ContactFactory()
    invite(campaign, invited, now=utcnow())
    result = plan_campaign(campaign)
    db.session.commit()
    assert (result.invited, result.skipped) == (1, {"campaign_throttle": 1})
    assert {i.contact_id for i in db.session.scalars(select(Invitation))} == {invited.id, other.id}


def test_an_api_request_is_mailed_over_smtp_and_its_link_records_the_answer(app, client, smtp_sink):
    """The real pipeline: the API call, the outbox, the SMTP server, the click and the answer."""
    contact = ContactFactory(name="Ana Lima", email="ana.lima@acme.example")
    campaign = CampaignFactory(survey=SurveyFactory(product_name="Orbit"))
    _, key = create_api_key("CRM deal hook", ["send:surveys"])
    db.session.commit()

    response = client.post(
        f"/api/v1/contacts/{contact.id}/survey-invitations",
        json={"campaign_id": campaign.id, "reference": "deal-4711", "send_at": "now"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 201, response.text
    assert deliver_all() == {"sent": 1}

    [email] = smtp_sink.messages
    assert email["To"] == "Ana Lima <ana.lima@acme.example>"
    link = score_link(email, 9)
    assert re.fullmatch(r"http://[^/]+/s/[A-Za-z0-9_-]{22}/9", link)
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = client.get(f"/{path}")  # the click: the score preselected, nothing recorded yet
    assert page.status_code == 200 and 'value="9" required checked' in page.text
    token = path.split("/")[1]
    answer = client.post(f"/s/{token}/answer", data={"score": "9"})  # "Send my answer"
    assert answer.status_code == 303

    db.session.expire_all()
    [stored] = db.session.scalars(select(SurveyResponse)).all()
    assert (stored.contact_id, stored.score, stored.kind) == (contact.id, 9, "nps")
    invitation = db.session.get(Invitation, response.get_json()["id"])
    assert (stored.invitation_id, invitation.status) == (invitation.id, "answered")
