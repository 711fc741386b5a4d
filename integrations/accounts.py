"""Writing CRM companies into accounts: update matched ones, create the rest, remember ids."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, NamedTuple

from sqlalchemy import func, select, update

from cs_platform.date_range import RANGE_TEXT, in_range, is_evergreen
from cs_platform.extensions import db
from cs_platform.models import MAX_ARR, Account, AccountChange, TimelineEntry, User
from integrations.matching import normalise_domain
from integrations.models import KIND_LABELS
from integrations.records import BadRecord, Parsed
from integrations.writers import write_external_ids

ACCOUNT_FIELDS = ("name", "domain", "arr", "renewal_date", "owner_email")
FIELD_LABELS = {"name": "name", "domain": "domain", "arr": "ARR", "renewal_date": "renewal date"}


class NoRenewal(enum.Enum):
    """A CRM's far-future renewal date (cs_platform.date_range): the contract is evergreen, and
    the account's renewal date is cleared, where a blank one leaves the date we have."""

    EVERGREEN = "evergreen"


EVERGREEN = NoRenewal.EVERGREEN
Renewal = dt.date | Literal[NoRenewal.EVERGREEN] | None


def stored_renewal(renewal: Renewal) -> dt.date | None:
    """The renewal date to store: None for an evergreen contract."""
    return None if renewal is EVERGREEN else renewal


class FieldChange(NamedTuple):
    """One field a sync changed: a line in the account's timeline and, for the fields features
    read, a row of the account's history."""

    field: str
    old: Any
    new: Any

    def describe(self) -> str:
        """As "ARR 50000.00 → 62000.00", or "owner → casey@ourco.example"."""
        if self.field == "owner_email":
            return f"owner → {self.new}"
        if self.field == "renewal_date" and self.new is None:
            return f"renewal date {self.old} → none (evergreen contract)"
        return f"{FIELD_LABELS[self.field]} {self.old} → {self.new}"


class RefusedRenewal(NamedTuple):
    """A CRM renewal date before the account's contract start: not written, but said in the
    account's timeline (churn risk before renewal needs a renewal after the start)."""

    account_id: int
    renewal: dt.date
    start: dt.date

    def describe(self) -> str:
        return (
            f"renewal date {self.renewal} not written: it is before the contract start {self.start}"
        )


def renews_before_start(renewal: Renewal, start: dt.date | None) -> bool:
    """Whether a renewal date comes before the contract start (both known dates)."""
    return isinstance(renewal, dt.date) and start is not None and renewal < start


def refused_renewals(
    renewals: dict[int, Renewal], starts: dict[int, dt.date | None]
) -> list[RefusedRenewal]:
    """The CRM renewal dates, by account id, that come before their account's contract start."""
    return [
        RefusedRenewal(aid, day, start)  # renews_before_start, spelled out for the types
        for aid, day in renewals.items()
        if isinstance(day, dt.date) and (start := starts.get(aid)) is not None and day < start
    ]


def segment_for(arr: Decimal) -> str:
    if arr >= 100_000:
        return "enterprise"
    return "mid_market" if arr >= 25_000 else "smb"


def parse_arr(value: Any) -> Decimal | None:
    """ARR as a Decimal in cents from 0 to MAX_ARR, which the column holds (CRMs send numbers as
    strings), None when blank."""
    if value in (None, ""):
        return None
    try:
        arr = Decimal(str(value))
    except InvalidOperation:
        raise BadRecord(f"ARR {value!r} is not a number") from None
    if not arr.is_finite() or not 0 <= arr <= MAX_ARR:  # then rounding cannot pass MAX_ARR
        raise BadRecord(f"ARR {value!r} is out of range (0 to {MAX_ARR:,})")
    return arr.quantize(Decimal("0.01"))


def read_date(value: Any, field_name: str) -> dt.date | None:
    """A date from 'YYYY-MM-DD', an ISO timestamp or epoch milliseconds; None when blank."""
    if value in (None, ""):
        return None
    text = str(value)
    try:
        return (
            dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC).date()
            if text.lstrip("-").isdigit()
            else dt.date.fromisoformat(text[:10])
        )
    except (ValueError, OverflowError, OSError):
        raise BadRecord(f"{field_name} {value!r} is not a date") from None


def parse_date(value: Any, field_name: str) -> dt.date | None:
    """A date as read_date reads it, within the range of cs_platform.date_range."""
    day = read_date(value, field_name)
    if day is not None and not in_range(day):
        raise BadRecord(f"{field_name} {value!r} is out of range ({RANGE_TEXT})")
    return day


def parse_renewal_date(value: Any, field_name: str) -> Renewal:
    """A renewal date as parse_date reads it, but EVERGREEN for a CRM's far-future mark of a
    contract that never renews (2999-12-31, 9999-12-31)."""
    day = read_date(value, field_name)
    if day is not None and is_evergreen(day):
        return EVERGREEN
    return parse_date(value, field_name)


def company_values(props: dict[str, Any], names: Mapping[str, str | None]) -> dict[str, Any]:
    """Account fields from a CRM company's properties, named by `names` (None: not mapped)."""

    def get(field: str) -> Any:
        name = names.get(field)
        return props.get(name) if name else None

    name = str(get("name") or "").strip()
    if not name:
        raise BadRecord(f"{names['name']} is missing")
    owner = get("owner_email")
    return {
        "name": name[:200],
        "domain": normalise_domain(get("domain")),
        "arr": parse_arr(get("arr")),
        "renewal_date": parse_renewal_date(get("renewal_date"), str(names.get("renewal_date"))),
        "owner_email": owner.strip().lower() if isinstance(owner, str) else None,
    }


def write_renewal_dates(rows: list[tuple[Parsed, int | None]], source: str) -> tuple[int, int]:
    """Set accounts' renewal dates from open renewal deals, keeping the dates they replace in
    the account history; a date before the contract start is refused in the account's timeline,
    an evergreen one clears the date. Returns (0, accounts updated)."""
    dates = {aid: item.values["renewal_date"] for item, aid in rows if aid is not None}
    dates = {aid: day for aid, day in dates.items() if day is not None}
    if not dates:
        return 0, 0
    current = db.session.execute(
        select(Account.id, Account.renewal_date, Account.contract_start).where(
            Account.id.in_(dates)
        )
    ).all()
    refused = refused_renewals(dates, {aid: start for aid, _, start in current})
    log_refused_renewals(source, refused)
    for refusal in refused:
        del dates[refusal.account_id]
    dates = {aid: stored_renewal(day) for aid, day in dates.items()}
    history = {
        aid: [FieldChange("renewal_date", renewal, dates[aid])]
        for aid, renewal, _ in current
        if aid in dates
    }
    db.session.add_all(history_rows(source, history))
    if dates:
        db.session.execute(
            update(Account), [{"id": aid, "renewal_date": day} for aid, day in dates.items()]
        )
    return 0, len(dates)


def write_accounts(
    source: str, rows: list[tuple[Parsed, int | None]], default_plan: str
) -> tuple[int, int]:
    """Update matched accounts with the CRM's values, create unmatched ones; (created, updated).
    A renewal date before an account's contract start is refused in its timeline."""
    emails = {item.values.get("owner_email") for item, _ in rows}
    owners = owner_ids({email for email in emails if email is not None})
    matched = {account_id: item for item, account_id in rows if account_id is not None}
    accounts = db.session.scalars(select(Account).where(Account.id.in_(matched))).all()
    renewals = {account.id: matched[account.id].values.get("renewal_date") for account in accounts}
    starts = {account.id: account.contract_start for account in accounts}
    log_refused_renewals(source, refused_renewals(renewals, starts))
    changes = {account.id: apply_values(account, matched[account.id].values, owners)
               for account in accounts}  # fmt: skip
    fresh = [(item, new_account(item.values, default_plan)) for item, aid in rows if aid is None]
    for item, account in fresh:
        apply_values(account, item.values, owners)
    db.session.add_all(account for _, account in fresh)
    db.session.flush()
    log_sync_changes(source, changes, [account.id for _, account in fresh])
    db.session.add_all(history_rows(source, changes))
    write_external_ids(
        source,
        [(item, account_id) for item, account_id in rows if account_id is not None]
        + [(item, account.id) for item, account in fresh],
    )
    return len(fresh), len(accounts)


def new_account(values: dict[str, Any], plan: str) -> Account:
    return Account(
        name=values["name"],
        segment=segment_for(values.get("arr") or Decimal(0)),
        plan=plan,
        lifecycle_stage="onboarding",
    )


def apply_values(
    account: Account, values: dict[str, Any], owners: dict[str, int]
) -> list[FieldChange]:
    """Copy the fields the CRM sent (a blank field, or a renewal date before the contract start,
    leaves what we have; an evergreen one clears the date); returns what changed (the caller
    keeps it for accounts that existed)."""
    changed = []
    for name in ("name", "domain", "arr", "renewal_date"):
        new = values.get(name)
        if new is None or (
            name == "renewal_date" and renews_before_start(new, account.contract_start)
        ):
            continue
        new = stored_renewal(new)
        if new != getattr(account, name):
            changed.append(FieldChange(name, getattr(account, name), new))
            setattr(account, name, new)
    owner = values.get("owner_email")
    if owner and owner in owners and owners[owner] != account.owner_id:
        account.owner_id = owners[owner]
        changed.append(FieldChange("owner_email", None, owner))
    return changed


def history_rows(source: str, changes: dict[int, list[FieldChange]]) -> list[AccountChange]:
    """The account-history rows of a sync's changes (features read them to see the CRM fields
    of a past day as they were then)."""
    return [
        row
        for account_id, what in changes.items()
        for row in AccountChange.rows(account_id, what, source)
    ]


def log_sync_changes(
    source: str, changes: dict[int, list[FieldChange]], created: list[int]
) -> None:
    """A `sync` line in the timeline of each account the sync created or changed."""
    label = KIND_LABELS.get(source, source)
    entries = [
        TimelineEntry(
            account_id=account_id,
            kind="sync",
            body=f"{label} sync: {'; '.join(change.describe() for change in what)}",
        )
        for account_id, what in changes.items()
        if what
    ] + [
        TimelineEntry(account_id=account_id, kind="sync", body=f"Created by the {label} sync")
        for account_id in created
    ]
    db.session.add_all(entries)


def log_refused_renewals(source: str, refused: list[RefusedRenewal]) -> None:
    """A `sync` line in the timeline of each account whose CRM renewal date was refused."""
    label = KIND_LABELS.get(source, source)
    db.session.add_all(
        TimelineEntry(account_id=r.account_id, kind="sync", body=f"{label} sync: {r.describe()}")
        for r in refused
    )


def owner_ids(emails: set[str]) -> dict[str, int]:
    if not emails:
        return {}
    rows = db.session.execute(
        select(func.lower(User.email), User.id).where(func.lower(User.email).in_(emails))
    )
    return dict(rows.all())
