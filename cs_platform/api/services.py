"""What the API endpoints do with the database; views stay thin and commit."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, NoReturn

import pandas as pd
from flask import abort, g
from sqlalchemy import Select, and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import HTTPException

from cs_platform.api.fields import MAX_ID
from cs_platform.audit import record_audit
from cs_platform.extensions import db
from cs_platform.models import Account, AccountChange, ExternalId, User
from scoring.models import BandOverride, ChurnRisk, HealthScore
from surveys.metrics import PERIODS, breakdown
from surveys.models import SurveyResponse

# What a CRM reference in the upsert path may look like (also documented in the OpenAPI path).
EXTERNAL_REF_PATTERNS = {
    "source": re.compile(r"[a-z0-9_]{1,32}"),
    "external_id": re.compile(r"[A-Za-z0-9._:@-]{1,128}"),
}


def api_error(status: int, message: str, details: dict[str, Any] | None = None) -> NoReturn:
    """Stop with an HTTP error; cs_platform.errors renders {"error": {code, message, details}}."""
    try:
        abort(status, description=message)
    except HTTPException as error:
        error.data = {"messages": details} if details else {}
        raise


def invalid(location: str, field: str, message: str) -> NoReturn:
    """Answer 422 naming the field, the way marshmallow's errors are answered."""
    api_error(422, f"invalid {location} field {field}: {message}", {location: {field: [message]}})


def get_account(account_id: int) -> Account:
    """The account with this id, or 404."""
    account = db.session.get(Account, account_id) if account_id <= MAX_ID else None
    if account is None:
        api_error(404, f"no account with id {account_id}")
    return account


def accounts_statement(args: dict[str, Any]) -> Select:
    """Accounts matching the list filters, with their external ids loaded set-wise."""
    statement = select(Account).options(selectinload(Account.external_ids))
    for name in ("segment", "plan", "lifecycle_stage", "owner_id", "domain"):
        if name in args:
            statement = statement.where(getattr(Account, name) == args[name])
    if "updated_since" in args:
        statement = statement.where(Account.updated_at >= args["updated_since"])
    return statement


OWNER_ROLES = ("admin", "csm")


def apply_account_fields(account: Account, changes: dict[str, Any]) -> None:
    """Set the CRM fields in `changes`; owner_email names the owning user. An existing
    account's history keeps the values replaced, so features of a past day see them."""
    changes = dict(changes)
    if "owner_email" in changes:
        set_owner(account, changes.pop("owner_email"))
    if account.id is not None:
        replaced = [(name, getattr(account, name), value) for name, value in changes.items()]
        db.session.add_all(AccountChange.rows(account.id, replaced, "api"))
    for name, value in changes.items():
        setattr(account, name, value)


def set_owner(account: Account, email: str | None) -> None:
    """Make the active CSM or admin with this email the owner (None: no owner), audited. One
    answer for an unknown email and an ineligible user, so the API tells nobody who exists."""
    owner_id = None
    if email is not None:
        with db.session.no_autoflush:  # a new account is not complete yet
            owner_id = db.session.scalar(
                select(User.id).where(
                    User.email == email.strip().lower(),
                    User.role.in_(OWNER_ROLES),
                    User.active.is_(True),
                )
            )
        if owner_id is None:
            invalid("json", "owner_email", "no active CSM or admin can own accounts as this email")
    if owner_id != account.owner_id:
        key = g.get("api_key")
        record_audit(
            "account.owner_changed",
            account.name or "new account",
            {"to": email, "via": "api", "api_key": key.prefix if key else None},
        )
    account.owner_id = owner_id


def upsert_by_external_id(
    source: str, external_id: str, fields: dict[str, Any]
) -> tuple[Account, bool]:
    """Update the account the CRM knows by `source`/`external_id`, or create it; True if new."""
    for name, value in (("source", source), ("external_id", external_id)):
        if not EXTERNAL_REF_PATTERNS[name].fullmatch(value):
            invalid("path", name, f"must match {EXTERNAL_REF_PATTERNS[name].pattern}")
    link = db.session.scalar(
        select(ExternalId).where(ExternalId.source == source, ExternalId.external_id == external_id)
    )
    account = Account() if link is None else link.account
    if link is None:
        db.session.add(ExternalId(account=account, source=source, external_id=external_id))
    apply_account_fields(account, fields)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        api_error(409, "the same account was written at the same time; retry")
    return account, link is None


def latest_health(account_id: int) -> dict[str, Any]:
    """The account's latest health score and any band override in force today (one query),
    or 404."""
    in_force = and_(
        BandOverride.account_id == HealthScore.account_id,
        BandOverride.ended_at.is_(None),
        BandOverride.expires_on >= dt.date.today(),
    )
    row = (
        db.session.execute(
            select(HealthScore, BandOverride)
            .outerjoin(BandOverride, in_force)
            .where(HealthScore.account_id == account_id)
            .order_by(HealthScore.scored_on.desc(), BandOverride.created_at.desc())
            .limit(1)
        ).first()
        if account_id <= MAX_ID
        else None
    )
    if row is None:
        get_account(account_id)  # 404 for an unknown account, then for one not yet scored
        api_error(404, f"account {account_id} has no health score yet")
    score, override = row
    return {
        **{column.key: getattr(score, column.key) for column in HealthScore.__table__.columns},
        "effective_band": override.band if override else score.band,
        "override": override,
    }


def latest_churn_risk(account_id: int) -> ChurnRisk:
    """The account's latest churn risk, or 404."""
    get_account(account_id)
    risk = db.session.scalar(
        select(ChurnRisk)
        .where(ChurnRisk.account_id == account_id)
        .order_by(ChurnRisk.scored_on.desc())
        .limit(1)
    )
    if risk is None:
        api_error(404, f"account {account_id} has no churn risk yet")
    return risk


def survey_metrics(args: dict[str, Any]) -> list[dict[str, Any]]:
    """NPS, CSAT or CES per period and segment, computed set-wise by surveys.metrics."""
    statement = (
        select(SurveyResponse.responded_at, SurveyResponse.score, Account.segment)
        .join(Account, Account.id == SurveyResponse.account_id)
        .where(SurveyResponse.kind == args["kind"])
    )
    if "segment" in args:
        statement = statement.where(Account.segment == args["segment"])
    if "since" in args:
        statement = statement.where(
            SurveyResponse.responded_at >= dt.datetime.combine(args["since"], dt.time.min)
        )
    if "until" in args:
        statement = statement.where(
            SurveyResponse.responded_at <= dt.datetime.combine(args["until"], dt.time.max)
        )
    frame = pd.DataFrame(
        db.session.execute(statement).all(), columns=["responded_at", "score", "segment"]
    )
    periods = pd.to_datetime(frame["responded_at"]).dt.to_period(PERIODS[args["period"]])
    table = breakdown(frame.assign(period=periods.astype(str)), args["kind"], ["period", "segment"])
    return table.to_dict("records")
