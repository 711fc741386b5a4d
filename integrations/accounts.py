"""Writing CRM companies into accounts: update matched ones, create the rest, remember ids."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select, update

from cs_platform.extensions import db
from cs_platform.models import Account, User
from integrations.matching import normalise_domain
from integrations.records import BadRecord, Parsed
from integrations.writers import write_external_ids

ACCOUNT_FIELDS = ("name", "domain", "arr", "renewal_date", "owner_email")


def segment_for(arr: Decimal) -> str:
    if arr >= 100_000:
        return "enterprise"
    return "mid_market" if arr >= 25_000 else "smb"


def parse_arr(value: Any) -> Decimal | None:
    """ARR as a non-negative Decimal (CRMs send numbers as strings), None when blank."""
    if value in (None, ""):
        return None
    try:
        arr = Decimal(str(value))
    except InvalidOperation:
        raise BadRecord(f"ARR {value!r} is not a number") from None
    if not arr.is_finite() or arr < 0 or arr >= Decimal("1e12"):
        raise BadRecord(f"ARR {value!r} is out of range")
    return arr.quantize(Decimal("0.01"))


def parse_date(value: Any, field_name: str) -> dt.date | None:
    """A date from 'YYYY-MM-DD', an ISO timestamp or epoch milliseconds; 2000-2100 only."""
    if value in (None, ""):
        return None
    text = str(value)
    try:
        day = (
            dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC).date()
            if text.lstrip("-").isdigit()
            else dt.date.fromisoformat(text[:10])
        )
    except (ValueError, OverflowError, OSError):
        raise BadRecord(f"{field_name} {value!r} is not a date") from None
    if not dt.date(2000, 1, 1) <= day <= dt.date(2100, 1, 1):
        raise BadRecord(f"{field_name} {value!r} is out of range")
    return day


def company_values(props: dict[str, Any], names: dict[str, str | None]) -> dict[str, Any]:
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
        "renewal_date": parse_date(get("renewal_date"), str(names.get("renewal_date"))),
        "owner_email": owner.strip().lower() if isinstance(owner, str) else None,
    }


def write_renewal_dates(rows: list[tuple[Parsed, int | None]]) -> tuple[int, int]:
    """Set accounts' renewal dates from open renewal deals; returns (0, accounts updated)."""
    dates = {aid: item.values["renewal_date"] for item, aid in rows}
    dates = {aid: day for aid, day in dates.items() if day is not None}
    if dates:
        db.session.execute(
            update(Account), [{"id": aid, "renewal_date": day} for aid, day in dates.items()]
        )
    return 0, len(dates)


def write_accounts(
    source: str, rows: list[tuple[Parsed, int | None]], default_plan: str
) -> tuple[int, int]:
    """Update matched accounts with the CRM's values, create unmatched ones; (created, updated)."""
    owners = owner_ids({item.values.get("owner_email") for item, _ in rows} - {None})
    matched = {account_id: item for item, account_id in rows if account_id is not None}
    accounts = db.session.scalars(select(Account).where(Account.id.in_(matched))).all()
    for account in accounts:
        apply_values(account, matched[account.id].values, owners)
    fresh = [(item, new_account(item.values, default_plan)) for item, aid in rows if aid is None]
    for item, account in fresh:
        apply_values(account, item.values, owners)
    db.session.add_all(account for _, account in fresh)
    db.session.flush()
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


def apply_values(account: Account, values: dict[str, Any], owners: dict[str, int]) -> None:
    """Copy the fields the CRM sent; a blank field leaves what we have."""
    for name in ("name", "domain", "arr", "renewal_date"):
        if values.get(name) is not None:
            setattr(account, name, values[name])
    owner = values.get("owner_email")
    if owner and owner in owners:
        account.owner_id = owners[owner]


def owner_ids(emails: set[str]) -> dict[str, int]:
    if not emails:
        return {}
    rows = db.session.execute(
        select(func.lower(User.email), User.id).where(func.lower(User.email).in_(emails))
    )
    return dict(rows.all())
