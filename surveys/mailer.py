"""The outbox handler of kind "email": survey invitations, reminders and tests to a colleague,
sent through the product's mail transport (`cs_platform/mail.py`). A recipient the server
refuses for good (a 5xx reply) is marked as bouncing and the message fails for good."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from cs_platform.extensions import db
from cs_platform.mail import RecipientRefusedError, mail_domain, transport
from cs_platform.models import Contact, utcnow
from cs_platform.outbox import (
    DeliveryCancelledError,
    DeliveryDeferredError,
    OutboxMessage,
    OutcomeWrites,
    outcome_update,
)
from surveys.emails import build_email, invitation_email
from surveys.models import Campaign, Invitation
from surveys.tokens import preview_token


def deliver_email(message: OutboxMessage) -> OutcomeWrites:
    """Outbox handler for kind "email": an invitation, a reminder or a test to a colleague.
    Returns what a sent invitation changes, for the outbox to write with the "sent" outcome."""
    payload = message.payload
    if payload["template"] == "test":
        _send_test(message.id, payload)
        return ()
    invitation = db.session.get(Invitation, payload["invitation_id"])
    reminder = payload["template"] == "reminder"
    _check_still_wanted(invitation, reminder=reminder)
    assert invitation is not None  # _check_still_wanted cancels the mail of a deleted one
    try:
        transport().send(invitation_email(invitation, payload.get("number", 0)))
    except RecipientRefusedError:
        invitation.status = "bounced"
        invitation.contact.bounced_at = utcnow()
        raise
    return _sent_writes(invitation, reminder=reminder)


def _sent_writes(invitation: Invitation, *, reminder: bool) -> OutcomeWrites:
    """An invitation sent: its status and time (not for a reminder), and its contact's last
    survey time."""
    now = utcnow()
    surveyed = outcome_update(Contact, invitation.contact_id, last_surveyed_at=now)
    if reminder:
        return (surveyed,)
    sent = outcome_update(Invitation, invitation.id, status="sent", sent_at=now)
    return (sent, surveyed)


def _send_test(message_id: int, payload: dict) -> None:
    """payload: {"template": "test", "campaign_id", "to", "name"}; the links open the real
    pages in preview mode, which records nothing."""
    campaign = db.session.get(Campaign, payload["campaign_id"])
    if campaign is None:
        raise DeliveryCancelledError("campaign deleted")
    recipient = (payload["name"], payload["to"])
    token = preview_token(current_app.config["SECRET_KEY"], campaign.id)
    email = build_email(
        campaign.survey, campaign, recipient, None, token,
        message_id=f"<survey-test-{message_id}@{mail_domain()}>", test=True,
    )  # fmt: skip
    transport().send(email)


def _check_still_wanted(invitation: Invitation | None, *, reminder: bool) -> None:
    """Cancel or defer mail that should not go out (any more, or not yet)."""
    if invitation is None:
        raise DeliveryCancelledError("invitation deleted")
    contact = invitation.contact
    if contact.unsubscribed_at is not None or contact.bounced_at is not None:
        invitation.status = "cancelled" if invitation.status == "scheduled" else invitation.status
        raise DeliveryCancelledError("contact unsubscribed or bouncing")
    if invitation.expires_at <= utcnow() or invitation.status in ("answered", "cancelled"):
        raise DeliveryCancelledError(f"invitation {invitation.status} or expired")
    if reminder and invitation.answered_at is not None:
        raise DeliveryCancelledError("already answered")
    if invitation.campaign.status == "paused":
        raise DeliveryDeferredError("campaign paused", seconds=3600)


def prefetch_invitations(messages: list[OutboxMessage]) -> list[Invitation]:
    """Load a batch's invitations with their contacts, campaigns and surveys in four queries."""
    ids = [m.payload["invitation_id"] for m in messages if "invitation_id" in m.payload]
    query = (
        select(Invitation)
        .where(Invitation.id.in_(ids))
        .options(
            selectinload(Invitation.contact),
            selectinload(Invitation.campaign).selectinload(Campaign.survey),
        )
    )
    return list(db.session.scalars(query)) if ids else []
