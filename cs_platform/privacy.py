"""GDPR erasure of a contact: their personal data goes, their anonymous answers stay.

Erasing a person deletes every Contact row with their email address (one per account they belong
to), and with it, through the database's cascades, their invitations and survey skips (and so
their survey links stop working and queued emails to them are cancelled by the outbox handler).
Their survey responses are kept without anything that points at them: the contact and
invitation links and the free-text comment are removed; survey, kind, score, account and date
stay, so NPS/CSAT/CES and the health scores computed from them do not change. The stored events
of `survey_response.created` and `.updated` (the event list API) and their delivery logs (for
replays) lose the contact id and the comment the same way.
`flask --app wsgi erase-contact --email X` runs it and records an audit entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import click
from sqlalchemy import delete, func, or_, select, update

from cs_platform.audit import record_audit
from cs_platform.extensions import db, rowcount
from cs_platform.models import Contact, utcnow
from cs_platform.webhooks.events import scrub_event_fields
from cs_platform.webhooks.models import WebhookDelivery, WebhookEvent
from surveys.models import Invitation, SurveyResponse

PERSONAL_EVENTS = ("survey_response.created", "survey_response.updated")
PERSONAL_FIELDS = ("contact_id", "comment")


@dataclass(frozen=True)
class ErasureResult:
    contacts: int
    responses_anonymised: int
    deliveries_scrubbed: int = 0

    def describe(self) -> str:
        return (
            f"erased {self.contacts} contact record(s); "
            f"{self.responses_anonymised} response(s) kept anonymously; "
            f"{self.deliveries_scrubbed} webhook delivery log(s) scrubbed"
        )


def email_fingerprint(email: str) -> str:
    """A short one-way digest for the audit log, so the log itself keeps no address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


def erase_contact(email: str) -> ErasureResult:
    """Erase everyone recorded under `email` (any case); flushes, the caller commits."""
    contact_ids = list(
        db.session.scalars(
            select(Contact.id).where(func.lower(Contact.email) == email.strip().lower())
        )
    )
    if not contact_ids:
        return ErasureResult(0, 0)
    invitations = select(Invitation.id).where(Invitation.contact_id.in_(contact_ids))
    theirs = or_(
        SurveyResponse.contact_id.in_(contact_ids), SurveyResponse.invitation_id.in_(invitations)
    )
    response_ids = set(db.session.scalars(select(SurveyResponse.id).where(theirs)))
    scrubbed = scrub_webhook_events(response_ids)
    anonymised = rowcount(
        db.session.execute(
            update(SurveyResponse)
            .where(SurveyResponse.id.in_(response_ids))
            .values(contact_id=None, invitation_id=None, comment=None, changed_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    )
    db.session.execute(
        delete(Contact)
        .where(Contact.id.in_(contact_ids))
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    return ErasureResult(len(contact_ids), anonymised or 0, scrubbed)


def scrub_webhook_events(response_ids: set[int]) -> int:
    """Blank the personal fields of these responses in the stored events and in the delivery
    logs (the event list and replays then carry the anonymous version); returns the delivery
    logs changed."""
    scrub_event_fields(WebhookEvent, PERSONAL_EVENTS, response_ids, PERSONAL_FIELDS)
    return scrub_event_fields(WebhookDelivery, PERSONAL_EVENTS, response_ids, PERSONAL_FIELDS)


@click.command("erase-contact")
@click.option("--email", required=True, help="The person's email address.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_contact_command(email: str, yes: bool) -> None:
    """Erase a contact's personal data (GDPR); their answers stay as anonymous scores."""
    if not yes:
        click.confirm(f"Erase every contact record of {email}? This cannot be undone", abort=True)
    result = erase_contact(email)
    if result.contacts == 0:
        raise click.ClickException(f"no contact with email {email}")
    record_audit(
        "contact.erased",
        f"email-sha256:{email_fingerprint(email)}",
        {
            "contacts": result.contacts,
            "responses_anonymised": result.responses_anonymised,
            "via": "cli",
        },
    )
    db.session.commit()
    click.echo(result.describe())
