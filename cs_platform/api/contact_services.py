"""What the contacts endpoints do with the database: look-ups, the upsert by email, changes, and
asking a contact for feedback through surveys.planning. Views stay thin and commit."""

from __future__ import annotations

from typing import Any

from flask import current_app, g
from sqlalchemy import Select, func, select

from cs_platform.api.fields import MAX_ID
from cs_platform.api.services import api_error, flush_or_conflict, invalid
from cs_platform.audit import record_audit
from cs_platform.extensions import db
from cs_platform.models import Account, Contact
from surveys.models import Campaign, Invitation
from surveys.planning import InviteOutcome, invite_contact

EMAIL_RACE = "another write of this email address came first; retry"


def get_contact(contact_id: int) -> Contact:
    """The contact with this id, or 404."""
    contact = db.session.get(Contact, contact_id) if contact_id <= MAX_ID else None
    if contact is None:
        api_error(404, f"no contact with id {contact_id}")
    return contact


def contacts_statement(args: dict[str, Any]) -> Select:
    """Contacts matching the list filters."""
    statement = select(Contact)
    for name in ("account_id", "role"):
        if name in args:
            statement = statement.where(getattr(Contact, name) == args[name])
    if "email" in args:
        statement = statement.where(func.lower(Contact.email) == args["email"].strip().lower())
    if "updated_since" in args:
        statement = statement.where(Contact.updated_at >= args["updated_since"])
    return statement


def contact_with_email(account_id: int, email: str, but: int | None = None) -> Contact | None:
    """The account's contact with this (lower-cased) email in any case, other than `but`."""
    statement = select(Contact).where(
        Contact.account_id == account_id, func.lower(Contact.email) == email
    )
    if but is not None:
        statement = statement.where(Contact.id != but)
    with db.session.no_autoflush:
        return db.session.scalars(statement.limit(1)).first()


def upsert_contact(fields: dict[str, Any]) -> tuple[Contact, bool]:
    """Update the account's contact with this email, or create it; True if new. 422 naming
    account_id for an unknown account."""
    fields = dict(fields)
    account_id = fields.pop("account_id")
    if db.session.get(Account, account_id) is None:
        invalid("json", "account_id", f"no account with id {account_id}")
    contact = contact_with_email(account_id, fields["email"])
    created = contact is None
    if contact is None:
        contact = Contact(account_id=account_id)
    apply_contact_fields(contact, fields)
    db.session.add(contact)
    flush_or_conflict(EMAIL_RACE)
    return contact, created


def apply_contact_fields(contact: Contact, changes: dict[str, Any]) -> None:
    """Set the fields in `changes`; 409 when the account already has the new email. A new email
    clears a bounce, which belonged to the old address."""
    email = changes.get("email")
    if contact.id is not None and email is not None and email != contact.email.lower():
        if contact_with_email(contact.account_id, email, but=contact.id) is not None:
            api_error(409, f"account {contact.account_id} already has a contact with {email}")
        contact.bounced_at = None
    for name, value in changes.items():
        setattr(contact, name, value)


def refusal_message(reason: str, contact: Contact, campaign: Campaign) -> str:
    """Why invite_contact refused, in words the caller can act on."""
    days = current_app.config["SURVEY_FATIGUE_DAYS"]
    return {
        "unsubscribed": f"contact {contact.id} unsubscribed from surveys and is never asked",
        "bounced": f"mail to contact {contact.id} bounces; write a working email address first",
        "global_fatigue": f"contact {contact.id} was surveyed within the last {days} days; "
        "send ignore_fatigue to ask anyway",
        "campaign_throttle": f"campaign {campaign.id} asked contact {contact.id} within its "
        f"{campaign.throttle_days}-day throttle; send ignore_fatigue to ask anyway",
    }[reason]


def invite(contact: Contact, body: dict[str, Any]) -> InviteOutcome:
    """Ask the contact for feedback as `body` says (InvitationRequestSchema); 422 for an
    unknown or paused campaign, 409 naming the reason when the contact may not be asked."""
    campaign = db.session.get(Campaign, body["campaign_id"])
    if campaign is None:
        invalid("json", "campaign_id", f"no campaign with id {body['campaign_id']}")
    outcome = invite_contact(
        campaign,
        contact,
        body.get("reference"),
        immediately=body["send_at"] == "now",
        ignore_fatigue=body["ignore_fatigue"],
    )
    if outcome.refused == "paused":
        invalid("json", "campaign_id", f"campaign {campaign.id} is paused; resume it first")
    if outcome.refused is not None:
        message = refusal_message(outcome.refused, contact, campaign)
        api_error(409, message, {"reason": [outcome.refused]})
    if outcome.created and outcome.invitation is not None:  # created: it is set
        audit_invitation(outcome.invitation, body)
    return outcome


def audit_invitation(invitation: Invitation, body: dict[str, Any]) -> None:
    """Audit an invitation asked for through the API, naming the key (never the email)."""
    record_audit(
        "survey_invitation.requested",
        f"contact {invitation.contact_id}",
        {
            "invitation_id": invitation.id,
            "campaign_id": invitation.campaign_id,
            "reference": body.get("reference"),
            "send_at": body["send_at"],
            "ignore_fatigue": body["ignore_fatigue"],
            "via": "api",
            "api_key": g.api_key.prefix,
        },
    )
