"""Contacts: list with filters, one contact, the upsert by email a CRM sync needs, changes, and
asking a contact for feedback (a survey invitation, e.g. after a closed deal)."""

from __future__ import annotations

from typing import Any

from cs_platform.api import contact_services as services
from cs_platform.api.contact_schemas import (
    ContactListArgs,
    ContactSchema,
    ContactUpsertSchema,
    ContactWriteSchema,
    InvitationRequestSchema,
    InvitationSchema,
)
from cs_platform.api.core import api_blueprint, guarded, query_args, shown_to_key
from cs_platform.api.pagination import keyset_page, page_schema
from cs_platform.extensions import db
from cs_platform.models import Contact

bp = api_blueprint(
    "contacts_api", __name__, "Contacts and asking them for feedback.", tag="Contacts"
)
READ = "read:contacts"
WRITE_ONLY = f"Written; the key lacks {READ}, so the contact is not shown."


@bp.route("/contacts", methods=["GET"])
@guarded(bp, READ)
@query_args(bp, ContactListArgs)
@bp.response(200, page_schema(ContactSchema))
def list_contacts(**args: Any):
    """Contacts, oldest first, filtered by account, email (any case) or role; with
    `updated_since`, the contacts changed since then (writes, unsubscribes, bounces, sends) in
    the order of their latest change, for incremental pulls."""
    statement = services.contacts_statement(args)
    if "updated_since" not in args:
        return keyset_page(statement, (Contact.id,), args)
    return keyset_page(statement, (Contact.updated_at, Contact.id), args)


@bp.route("/contacts/<int:contact_id>", methods=["GET"])
@guarded(bp, READ, not_found=True)
@bp.response(200, ContactSchema)
def get_contact(contact_id: int):
    """One contact."""
    return services.get_contact(contact_id)


@bp.route("/contacts", methods=["POST"])
@guarded(bp, "write:contacts")
@bp.arguments(ContactUpsertSchema)
@bp.response(200, ContactSchema, description="The account had this email; it was updated.")
@bp.alt_response(201, schema=ContactSchema, description="The contact was created.")
@bp.alt_response(204, description=WRITE_ONLY)
@bp.alt_response(409, response="Conflict")
def upsert_contact(fields: dict[str, Any]):
    """Create or update the contact an account knows by this email (any case), e.g. from a CRM
    sync; fields left out keep their value (a new contact: role user, locale en, UTC)."""
    contact, created = services.upsert_contact(fields)
    db.session.commit()
    return shown_to_key(contact, 201 if created else 200, READ)


@bp.route("/contacts/<int:contact_id>", methods=["PATCH"])
@guarded(bp, "write:contacts", not_found=True)
@bp.arguments(ContactWriteSchema(partial=True))
@bp.response(200, ContactSchema)
@bp.alt_response(204, description=WRITE_ONLY)
@bp.alt_response(409, response="Conflict")
def update_contact(changes: dict[str, Any], contact_id: int):
    """Change some fields of a contact; an email another contact of the account has is a 409."""
    contact = services.get_contact(contact_id)
    services.apply_contact_fields(contact, changes)
    services.flush_or_conflict(services.EMAIL_RACE)
    db.session.commit()
    return shown_to_key(contact, 200, READ)


@bp.route("/contacts/<int:contact_id>/survey-invitations", methods=["POST"])
@guarded(bp, "send:surveys", not_found=True)
@bp.arguments(InvitationRequestSchema)
@bp.response(201, InvitationSchema, description="Invited: the email is queued.")
@bp.alt_response(
    200,
    schema=InvitationSchema,
    description="This reference was used before for the contact and campaign: that invitation.",
)
@bp.alt_response(409, response="Conflict")
def create_survey_invitation(body: dict[str, Any], contact_id: int):
    """Ask a contact for feedback through an active campaign, now or in its send window. 409,
    with `details.reason`, for a contact who is unsubscribed or bouncing (never overridden), or
    inside the global fatigue window (global_fatigue) or the campaign's throttle
    (campaign_throttle) unless `ignore_fatigue`; 422 for an unknown or paused campaign."""
    outcome = services.invite(services.get_contact(contact_id), body)
    db.session.commit()
    return outcome.invitation, 201 if outcome.created else 200
