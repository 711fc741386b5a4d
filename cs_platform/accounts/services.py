"""What CSMs change on an account: who may edit it (one by one and set-wise), notes,
outreach, band overrides.

Services flush and leave the commit to the request that called them.
"""

from __future__ import annotations

import datetime as dt

from flask import abort
from sqlalchemy import ColumnElement, false, select, true

from cs_platform.accounts.risk import team_ids
from cs_platform.audit import record_audit
from cs_platform.extensions import db
from cs_platform.models import Account, TimelineEntry, User, utcnow
from scoring.models import BandOverride

OUTREACH_CHANNELS = {"call": "Call", "email": "Email", "meeting": "Meeting", "qbr": "QBR"}


def can_edit_account(user: User, account: Account) -> bool:
    """Admins edit every account, CSMs the accounts they own, team leads those their team
    (themselves and whoever has them as team lead) owns, viewers none."""
    if not user.is_authenticated:
        return False
    if user.role == "admin":
        return True
    if user.role not in ("csm", "team_lead") or account.owner_id is None:
        return False
    if account.owner_id == user.id:
        return True
    return user.role == "team_lead" and in_team_of(user, account.owner_id)


def in_team_of(lead: User, user_id: int | None) -> bool:
    """Whether the user `user_id` is the team lead `lead` or one of their team."""
    if user_id is None or lead.role != "team_lead":
        return False
    if user_id == lead.id:
        return True
    return db.session.scalar(select(User.team_lead_id).where(User.id == user_id)) == lead.id


def editable_accounts(user: User) -> ColumnElement[bool]:
    """`can_edit_account` as SQL over the accounts table, for set-wise changes."""
    if user.role == "admin":
        return true()
    if user.role == "team_lead":
        return Account.owner_id.in_(team_ids(user.id))
    if user.role == "csm":
        return Account.owner_id == user.id
    return false()


def editable_account_or_abort(user: User, account_id: int) -> Account:
    """The account, or a 404 when unknown and a 403 when `user` may only look at it."""
    account = db.get_or_404(Account, account_id)
    if not can_edit_account(user, account):
        abort(403, "Only the account's owner or an admin can change this account.")
    return account


def add_note(account: Account, author: User, body: str) -> TimelineEntry:
    entry = TimelineEntry(account_id=account.id, author_id=author.id, kind="note", body=body)
    db.session.add(entry)
    db.session.flush()
    return entry


def log_outreach(account: Account, author: User, channel: str, contact: str, summary: str):
    """Record a call, email or meeting with the customer on the timeline."""
    who = f" with {contact}" if contact else ""
    body = f"{OUTREACH_CHANNELS[channel]}{who}: {summary}"
    entry = TimelineEntry(account_id=account.id, author_id=author.id, kind="outreach", body=body)
    db.session.add(entry)
    db.session.flush()
    return entry


def end_overrides(account: Account) -> int:
    """End every open override of the account; returns how many were ended."""
    current = db.session.scalars(
        select(BandOverride).where(
            BandOverride.account_id == account.id, BandOverride.ended_at.is_(None)
        )
    ).all()
    for override in current:
        override.ended_at = utcnow()
    return len(current)


def override_band(
    account: Account, author: User, band: str, reason: str, expires_on: dt.date
) -> BandOverride:
    """Replace any open override with a new one, note it on the timeline and audit it (it
    changes the band every page, export and API answer shows)."""
    ended = end_overrides(account)
    override = BandOverride(
        account_id=account.id,
        band=band,
        reason=reason,
        expires_on=expires_on,
        created_by_id=author.id,
    )
    db.session.add(override)
    db.session.add(
        TimelineEntry(
            account_id=account.id,
            author_id=author.id,
            kind="override",
            body=f"Band set to {band} until {expires_on.isoformat()}: {reason}",
        )
    )
    details = {"band": band, "reason": reason, "expires_on": expires_on.isoformat()}
    audit_override("band_override.set", account, author, replaced=ended, **details)
    db.session.flush()
    return override


def clear_override(account: Account, author: User) -> bool:
    """End the open override early; False when there was none."""
    if not end_overrides(account):
        return False
    audit_override("band_override.cleared", account, author)
    db.session.add(
        TimelineEntry(
            account_id=account.id,
            author_id=author.id,
            kind="override",
            body="Band override cleared; the model's band applies again.",
        )
    )
    db.session.flush()
    return True


def audit_override(action: str, account: Account, author: User, **details: object) -> None:
    """Audit an override by account id (stable) and name (readable at a glance)."""
    record_audit(action, f"account:{account.id}", {"account": account.name, **details}, author)
