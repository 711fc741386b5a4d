"""marshmallow schemas of the contacts API: a contact, its writes and list filters, and a request
to ask a contact for feedback with the invitation it makes."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from cs_platform.api.enums import enum_field
from cs_platform.api.fields import Cursor, Id, JsonBoolean, QueryId, Text, UtcDateTime
from cs_platform.api.pagination import PageArgs
from cs_platform.api.schemas import always_present

MAX_EMAIL = 254
REFERENCE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@cache
def time_zones() -> frozenset[str]:
    """The IANA time zone names this machine knows (tzdata)."""
    return frozenset(available_timezones())


class EmailAddress(Text):
    """An email address, read trimmed and lower-cased: a contact's address is one per account,
    whatever case a CRM writes it in."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {**kwargs.pop("metadata", {}), "format": "email"}
        validators = [validate.Email(), validate.Length(max=MAX_EMAIL)]
        super().__init__(validate=validators, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip().lower()


class TimeZone(Text):
    """An IANA time zone name, such as Europe/Berlin."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "description": "IANA time zone the campaign's send window is read in.",
            "example": "Europe/Berlin",
        }
        super().__init__(validate=validate.Length(1, 64), metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        name = super()._deserialize(value, attr, data, **kwargs)
        if name not in time_zones():
            raise ValidationError("is not an IANA time zone; use a name like Europe/Berlin")
        return name


class Reference(fields.String):
    """A caller's own name for a trigger (a deal id), 1 to 64 of A-Z a-z 0-9 . _ : -."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "pattern": f"^{REFERENCE.pattern}$",
            "example": "deal-4711",
            "description": "Your id of what happened (a deal, an order). Sent again for the same "
            "contact and campaign, it gives back the invitation made the first time (200), so a "
            "retry never asks twice; without one every call is a new invitation.",
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not REFERENCE.fullmatch(text):
            raise ValidationError("must be 1 to 64 letters, digits or . _ : -")
        return text


class IsSet(fields.Boolean):
    """True when the attribute it reads (the time something happened) is set."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> bool:
        return value is not None


class ContactCursor(Cursor):
    """The cursor of either order of the contact list: by id, or by (updated_at, id) with
    `updated_since`; ContactListArgs checks that it is the one of the order asked for."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(int, **kwargs)
        self.by_change = Cursor(dt.datetime, int)

    # A String that reads as sort keys, as Cursor.
    def _deserialize(  # type: ignore[override]
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> tuple | None:
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError:
            return self.by_change._deserialize(value, attr, data, **kwargs)


@always_present
class ContactSchema(Schema):
    id = fields.Integer(dump_only=True)
    account_id = fields.Integer(dump_only=True)
    email = fields.String(dump_only=True, metadata={"description": "Lower-cased."})
    name = fields.String(dump_only=True)
    role = enum_field("ContactRole", dump_only=True)
    locale = enum_field("Locale", dump_only=True)
    timezone = fields.String(dump_only=True, metadata={"example": "Europe/Berlin"})
    unsubscribed = IsSet(
        attribute="unsubscribed_at",
        dump_only=True,
        metadata={"description": "Opted out of surveys: never invited again."},
    )
    bounced = IsSet(
        attribute="bounced_at",
        dump_only=True,
        metadata={"description": "Mail to the address bounced: not invited until it changes."},
    )
    last_surveyed_at = UtcDateTime(dump_only=True, allow_none=True)
    created_at = UtcDateTime(dump_only=True)
    updated_at = UtcDateTime(
        dump_only=True,
        metadata={"description": "The latest change: a write, an unsubscribe, a bounce, a send."},
    )


class ContactWriteSchema(Schema):
    """A contact's fields; on PATCH every field is optional."""

    email = EmailAddress(
        metadata={"description": "Unique per account, any case; a new address clears a bounce."}
    )
    name = Text(validate=validate.Length(1, 200))
    role = enum_field("ContactRole", metadata={"description": "New contacts: user."})
    locale = enum_field("Locale", metadata={"description": "Survey language; new contacts: en."})
    timezone = TimeZone()


class ContactUpsertSchema(ContactWriteSchema):
    """A contact as a CRM sends it: found by account and email (any case), else created."""

    account_id = Id(required=True)
    email = EmailAddress(required=True)
    name = Text(required=True, validate=validate.Length(1, 200))


class ContactListArgs(PageArgs):
    account_id = QueryId()
    email = Text(
        validate=validate.Length(1, MAX_EMAIL),
        metadata={"description": "Only this address, in any case."},
    )
    role = enum_field("ContactRole")
    updated_since = UtcDateTime(
        metadata={
            "description": "Only contacts changed at or after this time, ordered by their latest "
            "change (incremental pulls)."
        }
    )
    cursor = ContactCursor()

    @validates_schema
    def cursor_of_the_order(self, data: dict[str, Any], **_: Any) -> None:
        """A cursor of the other order (updated_since added or dropped while paging) is a 422."""
        cursor = data.get("cursor")
        if cursor is not None and len(cursor) != (2 if "updated_since" in data else 1):
            raise ValidationError(
                "is not a cursor of this order: page with the filters of the first page", "cursor"
            )


class InvitationRequestSchema(Schema):
    """Ask a contact for feedback through a campaign."""

    campaign_id = Id(
        required=True,
        metadata={
            "description": "An active campaign: its survey, send window, throttle, expiry and "
            "reminders apply; its audience rule, sample and schedule do not."
        },
    )
    reference = Reference()
    send_at = enum_field(
        "InvitationSendAt",
        load_default="window",
        metadata={
            "description": "window: in the campaign's send window in the contact's time zone; "
            "now: as soon as the outbox runs."
        },
    )
    ignore_fatigue = JsonBoolean(
        load_default=False,
        metadata={
            "description": "Invite even inside the global fatigue window or the campaign's "
            "throttle. Unsubscribed and bouncing contacts are never invited."
        },
    )


@always_present
class InvitationSchema(Schema):
    """An invitation (never its link token, which only the contact's email carries)."""

    id = fields.Integer(dump_only=True)
    campaign_id = fields.Integer(dump_only=True)
    contact_id = fields.Integer(dump_only=True)
    account_id = fields.Integer(dump_only=True)
    status = enum_field("InvitationStatus", dump_only=True)
    scheduled_for = UtcDateTime(
        dump_only=True, metadata={"description": "When the email goes out."}
    )
    expires_at = UtcDateTime(dump_only=True)
    created_at = UtcDateTime(dump_only=True)
