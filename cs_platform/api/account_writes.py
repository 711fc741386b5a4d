"""Account writes through the API: one account (PATCH, PUT by CRM id) or a batch of hundreds.

Every write goes through AccountWriter, which checks what the schema cannot (the owner exists,
renewal not before start, traits of the right type) before it touches the account, so a refused
row changes nothing. A batch looks owners, links and trait definitions up once, set-wise, and
reports per row whether it created, updated, left unchanged or refused the account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import g
from marshmallow import Schema, ValidationError
from sqlalchemy import select, tuple_
from sqlalchemy.orm import selectinload

from cs_platform.accounts.traits import TraitError, TraitWriter
from cs_platform.api.services import (
    EXTERNAL_REF_PATTERNS,
    api_error,
    flush_or_conflict,
    invalid,
)
from cs_platform.audit import record_audit
from cs_platform.extensions import db
from cs_platform.models import Account, AccountChange, ExternalId, User, utcnow

OWNER_ROLES = ("admin", "team_lead", "csm")
NO_OWNER = "no active CSM or admin can own accounts as this email"
CRM_ID_RACE = "the same account was written at the same time; retry"
Errors = dict[str, Any]  # marshmallow's shape: {field: [message]} or {"traits": {key: [message]}}


class RowError(ValueError):
    """A write refused for reasons the schema could not see; `errors` in marshmallow's shape."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(str(errors))
        self.errors = errors


def active_owner_ids(emails: Iterable[str]) -> dict[str, int]:
    """Lower-cased email -> id of the active CSM or admin with that email (one query)."""
    wanted = {email.strip().lower() for email in emails}
    if not wanted:
        return {}
    with db.session.no_autoflush:  # accounts being written are not complete yet
        rows = db.session.execute(
            select(User.email, User.id).where(
                User.email.in_(sorted(wanted)),
                User.role.in_(OWNER_ROLES),
                User.active.is_(True),
            )
        )
        return dict(rows.all())


@dataclass
class PreparedWrite:
    """Fields checked and ready to set: the CRM fields, the owner (if sent) and traits."""

    fields: dict[str, Any]
    owner: tuple[str | None, int | None] | None = None
    traits: dict[str, Any] = field(default_factory=dict)


class AccountWriter:
    """Checks and applies API writes to accounts; one per request."""

    def __init__(self, owner_emails: Iterable[str | None] = ()) -> None:
        self.owners = active_owner_ids(email for email in owner_emails if email)
        self.trait_writer = TraitWriter()

    def prepare(self, account: Account | None, sent: Mapping[str, Any]) -> PreparedWrite:
        """The write checked against the stored account (None: a new one); RowError naming
        every field refused. One answer for an unknown and an ineligible owner email, so the
        API tells nobody who exists."""
        fields = dict(sent)
        prepared = PreparedWrite(fields)
        errors: Errors = {}
        if "owner_email" in fields:
            email = fields.pop("owner_email")
            owner_id = None if email is None else self.owners.get(email.strip().lower())
            if email is not None and owner_id is None:
                errors["owner_email"] = [NO_OWNER]
            prepared.owner = (email, owner_id)
        errors |= dates_out_of_order(account, fields)
        try:
            prepared.traits = self.trait_writer.prepare(fields.pop("traits", None) or {})
        except TraitError as error:
            errors["traits"] = {key: [message] for key, message in error.errors.items()}
        if errors:
            raise RowError(errors)
        return prepared

    def write(self, account: Account, prepared: PreparedWrite) -> bool:
        """Set a prepared write; whether anything changed. An existing account's history keeps
        the values replaced, so features of a past day see them."""
        if prepared.owner is not None:
            assign_owner(account, *prepared.owner)
        if account.id is not None:
            replaced = [
                (name, getattr(account, name), new) for name, new in prepared.fields.items()
            ]
            db.session.add_all(AccountChange.rows(account.id, replaced, "api"))
        for name, value in prepared.fields.items():
            setattr(account, name, value)
        traits_changed = self.trait_writer.apply(account, prepared.traits)
        if traits_changed and account.id is not None:
            account.updated_at = utcnow()  # an updated_since pull must see new traits
        return (
            traits_changed
            or account.id is None
            or db.session.is_modified(account, include_collections=False)
        )


def dates_out_of_order(account: Account | None, fields: Mapping[str, Any]) -> Errors:
    """An error when the account would renew before its contract starts (a date sent is
    compared with the other one sent, else with the stored one): churn risk before renewal
    means nothing for such an account."""
    start = fields.get("contract_start", account.contract_start if account else None)
    renewal = fields.get("renewal_date", account.renewal_date if account else None)
    if start is None or renewal is None or renewal >= start:
        return {}
    if "renewal_date" in fields:
        return {"renewal_date": [f"must not be before contract_start {start}"]}
    return {"contract_start": [f"must not be after renewal_date {renewal}"]}


def assign_owner(account: Account, email: str | None, owner_id: int | None) -> None:
    """Make `owner_id` the owner (None: no owner), audited when it changes."""
    if owner_id != account.owner_id:
        key = g.get("api_key")
        record_audit(
            "account.owner_changed",
            account.name or "new account",
            {"to": email, "via": "api", "api_key": key.prefix if key else None},
        )
    account.owner_id = owner_id


def refuse(error: RowError) -> None:
    """Answer 422 for a refused single write, naming its first field like marshmallow does."""
    db.session.rollback()
    name, messages = next(iter(error.errors.items()))
    first = messages[0] if isinstance(messages, list) else next(iter(messages.values()))[0]
    api_error(422, f"invalid json field {name}: {first}", {"json": error.errors})


def update_account(account: Account, sent: Mapping[str, Any]) -> None:
    """PATCH: change some fields of an account, or 422 changing nothing."""
    writer = AccountWriter([sent.get("owner_email")])
    try:
        writer.write(account, writer.prepare(account, sent))
    except RowError as error:
        refuse(error)


def upsert_by_external_id(
    source: str, external_id: str, sent: Mapping[str, Any]
) -> tuple[Account, bool]:
    """Update the account the CRM knows by `source`/`external_id`, or create it; True if new."""
    for name, value in (("source", source), ("external_id", external_id)):
        if not EXTERNAL_REF_PATTERNS[name].fullmatch(value):
            invalid("path", name, f"must match {EXTERNAL_REF_PATTERNS[name].pattern}")
    account = linked_accounts([(source, external_id)]).get((source, external_id))
    writer = AccountWriter([sent.get("owner_email")])
    try:
        prepared = writer.prepare(account, sent)
    except RowError as error:
        refuse(error)
    created = account is None
    if account is None:
        account = Account()
    writer.write(account, prepared)
    if created:  # added once complete: a query on the way would flush it half-written
        db.session.add(ExternalId(account=account, source=source, external_id=external_id))
    flush_or_conflict(CRM_ID_RACE)
    return account, created


def linked_accounts(refs: list[tuple[str, str]]) -> dict[tuple[str, str], Account]:
    """The accounts linked to these (source, external id) pairs, traits loaded (one query per
    thousand pairs)."""
    found: dict[tuple[str, str], Account] = {}
    for start in range(0, len(refs), 1000):
        rows = db.session.execute(
            select(ExternalId.source, ExternalId.external_id, Account)
            .join(Account, Account.id == ExternalId.account_id)
            .options(selectinload(Account.traits), selectinload(Account.external_ids))
            .where(
                tuple_(ExternalId.source, ExternalId.external_id).in_(refs[start : start + 1000])
            )
        )
        found.update({(source, external_id): account for source, external_id, account in rows})
    return found


@dataclass
class RowResult:
    """What a batch did with one row."""

    index: int
    status: str  # created, updated, unchanged, failed
    source: str | None = None
    external_id: str | None = None
    account: Account | None = None
    errors: Errors | None = None
    account_id: int | None = None  # read after the flush: the commit expires `account`

    @property
    def ref(self) -> tuple[str, str]:
        """(source, external_id) of a row the schema loaded, which requires both."""
        assert self.source is not None and self.external_id is not None
        return self.source, self.external_id


def bulk_upsert(rows: list[dict[str, Any]], row_schema: Schema) -> list[RowResult]:
    """Create or update each row's account by its CRM id; a row refused (by the schema, a rule
    or a repeat of an earlier row's CRM id) is reported and the others are written."""
    loaded = [_load_row(index, row, row_schema) for index, row in enumerate(rows)]
    _refuse_repeats(loaded)
    good = [(result, fields) for result, fields in loaded if fields is not None]
    accounts = linked_accounts([result.ref for result, _ in good])
    writer = AccountWriter(fields.get("owner_email") for _, fields in good)
    for result, fields in good:
        _write_row(writer, result, fields, accounts.get(result.ref))
    flush_or_conflict(CRM_ID_RACE)
    for result, _ in good:
        result.account_id = result.account.id if result.account else None
    return [result for result, _ in loaded]


def _load_row(index: int, row: Any, schema: Schema) -> tuple[RowResult, dict[str, Any] | None]:
    result = RowResult(index, "failed")
    if isinstance(row, dict):
        result.source = _text_or_none(row.get("source"))
        result.external_id = _text_or_none(row.get("external_id"))
    try:
        fields = schema.load(row)
    except ValidationError as error:
        result.errors = error.normalized_messages()
        return result, None
    return result, fields


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= 128 else None


def _refuse_repeats(loaded: list[tuple[RowResult, dict[str, Any] | None]]) -> None:
    """Refuse a row whose CRM id an earlier row of the batch already wrote: which of two
    versions the CRM meant cannot be known."""
    first: dict[tuple[str, str], int] = {}
    for position, (result, fields) in enumerate(loaded):
        if fields is None:
            continue
        ref = result.ref
        if ref in first:
            message = f"repeats the CRM id of row {first[ref]} of this batch"
            result.errors = {"external_id": [message]}
            loaded[position] = (result, None)
        else:
            first[ref] = result.index


def _write_row(
    writer: AccountWriter, result: RowResult, sent: dict[str, Any], account: Account | None
) -> None:
    fields = {name: value for name, value in sent.items() if name not in ("source", "external_id")}
    try:
        prepared = writer.prepare(account, fields)
    except RowError as error:
        result.errors = error.errors
        return
    created = account is None
    if account is None:
        account = Account()
    changed = writer.write(account, prepared)
    if created:  # added once complete: a query on the way would flush it half-written
        db.session.add(
            ExternalId(account=account, source=result.source, external_id=result.external_id)
        )
    result.account = account
    result.status = ("created" if created else "updated") if changed else "unchanged"
