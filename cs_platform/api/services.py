"""What the API endpoints do with the database; views stay thin and commit."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Any, NamedTuple, NoReturn

import pandas as pd
from flask import abort
from sqlalchemy import (
    ColumnElement,
    Row,
    ScalarSelect,
    Select,
    SQLColumnExpression,
    and_,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, selectinload
from werkzeug.exceptions import HTTPException

from cs_platform import clock
from cs_platform.accounts.risk import active_overrides
from cs_platform.accounts.traits import trait_clauses
from cs_platform.api.fields import MAX_ID
from cs_platform.bulk_writes import is_postgres
from cs_platform.driver_reads import single_read
from cs_platform.extensions import db
from cs_platform.models import Account
from scoring.models import BandOverride, ChurnRisk, HealthScore
from surveys.models import SurveyResponse
from surveys.survey_metrics import PERIODS, breakdown

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
        # What flask-smorest's error handler reads (its own abort() sets it the same way).
        error.data = {"messages": details} if details else {}  # type: ignore[attr-defined]
        raise


def flush_or_conflict(message: str) -> None:
    """Flush; a write that lost a race to a concurrent one (a unique key taken meanwhile) is a
    409 saying `message`: a retry is safe."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        api_error(409, message)


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
    statement = where_account(
        select(Account).options(selectinload(Account.external_ids), selectinload(Account.traits)),
        args,
    )
    if "domain" in args:
        statement = statement.where(Account.domain == args["domain"])
    if "updated_since" in args:
        statement = statement.where(Account.updated_at >= args["updated_since"])
    return statement


def trait_filters(specs: list[str]) -> list[ColumnElement]:
    """WHERE clauses for the `trait` query filters, or 422 naming the first bad one."""
    try:
        return trait_clauses(specs)
    except ValueError as error:
        invalid("query", "trait", str(error))


def latest_health(account_id: int) -> dict[str, Any]:
    """The account's latest health score and any band override in force today (one statement,
    outside any transaction on PostgreSQL), or 404."""
    params = {"account_id": account_id, "today": clock.today()}
    row = single_read(latest_health_statement(), params) if account_id <= MAX_ID else None
    if row is None:
        get_account(account_id)  # 404 for an unknown account, then for one not yet scored
        api_error(404, f"account {account_id} has no health score yet")
    override = Override(*(row[column.name] for column in OVERRIDE_COLUMNS))
    score = {column.key: row[column.key] for column in HealthScore.__table__.columns}
    return with_band_in_force(score, override if override.band is not None else None)


@cache
def latest_health_statement() -> Select:
    """The latest score of :account_id and the override in force on :today, built once."""
    in_force = and_(
        BandOverride.account_id == HealthScore.account_id,
        BandOverride.ended_at.is_(None),
        BandOverride.expires_on >= bindparam("today"),
    )
    return (
        select(*HealthScore.__table__.columns, *OVERRIDE_COLUMNS)
        .outerjoin(BandOverride, in_force)
        .where(HealthScore.account_id == bindparam("account_id"))
        .order_by(HealthScore.scored_on.desc(), BandOverride.created_at.desc())
        .limit(1)
    )


# The override fields the answer shows, read beside the score's columns under their own names.
OVERRIDE_COLUMNS = (
    BandOverride.band.label("override_band"),
    BandOverride.reason.label("override_reason"),
    BandOverride.expires_on.label("override_expires_on"),
)


class Override(NamedTuple):
    """A band override as BandOverrideSchema answers it."""

    band: str | None
    reason: str | None
    expires_on: dt.date | None


def health_item(row: Row) -> dict[str, Any]:
    """A (HealthScore, BandOverride | None, ...) row as AccountHealthSchema answers it."""
    score, override = row[0], row[1]
    columns = HealthScore.__table__.columns
    return with_band_in_force(
        {column.key: getattr(score, column.key) for column in columns}, override
    )


def with_band_in_force(score: dict[str, Any], override: Any | None) -> dict[str, Any]:
    """A score's fields with the band in force (the override's while one is, else the score's)
    and the override."""
    return {
        **score,
        "effective_band": override.band if override else score["band"],
        "override": override,
    }


def latest_day() -> ScalarSelect:
    """The day of the latest health score of the account in the enclosing query (one backward
    probe of the (account_id, scored_on) unique index per account)."""
    return (
        select(func.max(HealthScore.scored_on))
        .where(HealthScore.account_id == Account.id)
        .correlate(Account)
        .scalar_subquery()
    )


ACCOUNT_FILTERS = ("segment", "plan", "lifecycle_stage", "owner_id")


def where_account(statement: Select, args: dict[str, Any]) -> Select:
    """`statement` (which reads Account) narrowed by the ACCOUNT_FILTERS and `trait` filters
    given in `args`."""
    for name in ACCOUNT_FILTERS:
        if name in args:
            statement = statement.where(getattr(Account, name) == args[name])
    return statement.where(*trait_filters(args.get("trait", [])))


def health_scores_statement(args: dict[str, Any]) -> Select:
    """Health scores for incremental pulls: written since `updated_since`, of one `band`, and of
    the accounts of one `segment` or `owner_id`."""
    statement = select(HealthScore).where(*score_filters(args))
    if args.keys() & set(ACCOUNT_FILTERS):
        statement = where_account(statement.join(HealthScore.account), args)
    return statement


def latest_scores_statement(args: dict[str, Any], today: dt.date | None = None) -> Select:
    """Rows (HealthScore, BandOverride | None) of each matching account's latest health score
    and the override in force (as on the risk list), to page by Account.id with health_item.
    Churned accounts only with `include_churned` or `lifecycle_stage=churned`."""
    override = aliased(BandOverride, active_overrides(today or clock.today()))
    latest = (Account.id == HealthScore.account_id) & (HealthScore.scored_on == latest_day())
    statement = where_account(
        select(HealthScore, override)
        .join(Account, latest)
        .outerjoin(override, override.account_id == Account.id),
        args,
    )
    if not args.get("include_churned") and args.get("lifecycle_stage") != "churned":
        statement = statement.where(Account.churned_at.is_(None))
        statement = statement.where(Account.lifecycle_stage != "churned")
    if args.get("unowned"):
        statement = statement.where(Account.owner_id.is_(None))
    return statement.where(*score_filters(args, func.coalesce(override.band, HealthScore.band)))


def score_filters(
    args: dict[str, Any], effective_band: SQLColumnExpression[str] = HealthScore.band
) -> list[ColumnElement]:
    """WHERE clauses of the score filters given in `args`; `effective_band` is the band in force
    (without overrides, the model's)."""
    clauses = {
        "band": lambda value: HealthScore.band == value,
        "effective_band": lambda value: effective_band == value,
        "min_score": lambda value: HealthScore.score >= value,
        "max_score": lambda value: HealthScore.score <= value,
        "updated_since": lambda value: HealthScore.updated_at >= value,
    }
    return [clause(args[name]) for name, clause in clauses.items() if name in args]


def without_jit() -> None:
    """On PostgreSQL, no JIT compilation for the rest of the transaction. A filtered page of
    latest scores expects few matches, so its estimate is the whole book's probes, past
    jit_above_cost: compiling cost about 55 ms on a page that runs in 15 ms (100k accounts)."""
    if is_postgres():
        db.session.execute(text("SET LOCAL jit = off"))


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
    """NPS, CSAT or CES per period and segment, computed set-wise by surveys.survey_metrics."""
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
