"""Point-in-time features for every account, built set-wise from the database.

`features_as_of(day)` returns one row per account that was a customer on `day`, using only what
was known before `day`: usage days before it, tickets created before it (open if not solved
before it), survey answers given before it. A handful of aggregate queries per day, never one per
account. CRM fields (ARR, seats, plan, segment, contract start and renewal dates) are taken as
they were at the end of `day`, from the account history that CRM syncs and the API write (an
account without history rows has had today's values all along); the renewal date is then rolled
back along its yearly cycle.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Select, and_, case, func, or_, select

from cs_platform.extensions import db
from cs_platform.models import Account, AccountChange, Contact
from integrations.models import SupportTicket, UsageDaily
from surveys.models import Invitation, SurveyResponse

MONTH_DAYS = 30.4375
DETRACTOR_MAX = 6  # NPS 0-6
CATEGORICAL = ("plan", "segment")
# Columns that describe the row, not the account's health: never fed to a model.
META_COLUMNS = ("account_id", "as_of", "owner_id", "churned_at", "contract_start")
FEATURES = (
    "active_users",
    "active_users_change_30d",
    "seat_utilisation",
    "features_used",
    "open_tickets",
    "high_priority_open",
    "tickets_per_seat_90d",
    "first_reply_hours_90d",
    "resolution_hours_90d",
    "ticket_satisfaction_90d",
    "nps_latest",
    "nps_trend",
    "csat_latest",
    "ces_latest",
    "survey_response_rate",
    "detractors_90d",
    "detractor_share",
    "arr",
    "seats",
    "tenure_months",
    "days_to_renewal",
    *CATEGORICAL,
)

# The levers a CSM can pull, with the direction of risk that each is held to (+1: risk rises as
# the value rises). The rest of FEATURES is context: shown apart, never as a reason.
LEVER_DIRECTIONS: dict[str, int] = {
    "active_users": -1,
    "active_users_change_30d": -1,
    "seat_utilisation": -1,
    "features_used": -1,
    "open_tickets": 1,
    "high_priority_open": 1,
    "tickets_per_seat_90d": 1,
    "first_reply_hours_90d": 1,
    "resolution_hours_90d": 1,
    "ticket_satisfaction_90d": -1,
    "nps_latest": -1,
    "nps_trend": -1,
    "csat_latest": -1,
    "ces_latest": -1,  # CES 1-7: higher is easier
    "survey_response_rate": -1,
    "detractors_90d": 1,
    "detractor_share": 1,
}
CONTEXT_FEATURES = tuple(f for f in FEATURES if f not in LEVER_DIRECTIONS)


def _read(query: Select) -> pd.DataFrame:
    return pd.read_sql(query, db.session.connection())


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def _numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values).astype(float)


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values)


def _as_is(values: pd.Series) -> pd.Series:
    return values


# How each CRM field with history is typed in the accounts frame, from its text in the history.
HISTORY_TYPES = {
    "arr": _numbers,
    "seats": _numbers,
    "contract_start": _dates,
    "renewal_date": _dates,
    "plan": _as_is,
    "segment": _as_is,
}


def _first_changes_after(day: dt.date) -> pd.DataFrame:
    """Per account and field, the first history row made after `day` (one query)."""
    query = (
        select(AccountChange.account_id, AccountChange.field, AccountChange.old_value)
        .where(AccountChange.changed_at >= _midnight(day + dt.timedelta(days=1)))
        .order_by(AccountChange.changed_at, AccountChange.id)
    )
    return _read(query).drop_duplicates(["account_id", "field"])


def in_force(accounts: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """`accounts` with each CRM field as it was at the end of `day`: the old value of the
    field's first change after `day`, else today's. Changes made on `day` itself count as known,
    as the nightly run of that day sees them."""
    typed = accounts.assign(
        **{field: HISTORY_TYPES[field](accounts[field]) for field in AccountChange.FIELDS}
    )
    for field, changes in _first_changes_after(day).groupby("field"):
        old = changes.set_index("account_id")["old_value"]
        later = typed["account_id"].isin(old.index)
        typed.loc[later, field] = HISTORY_TYPES[field](typed.loc[later, "account_id"].map(old))
    return typed


def live_accounts(day: dt.date) -> pd.DataFrame:
    """Accounts that were customers on `day` (started before it, not churned by it), with their
    CRM fields as they were then and the day they `started`."""
    query = select(
        Account.id.label("account_id"),
        Account.owner_id,
        Account.segment,
        Account.plan,
        Account.arr,
        Account.seats,
        Account.contract_start,
        Account.renewal_date,
        Account.churned_at,
        Account.created_at,
    ).where(or_(Account.churned_at.is_(None), Account.churned_at > day))
    accounts = in_force(_read(query), day)
    created = pd.to_datetime(accounts["created_at"]).dt.normalize()
    accounts["started"] = accounts["contract_start"].fillna(created)
    return accounts[accounts["started"] <= pd.Timestamp(day)].reset_index(drop=True)


def _usage(day: dt.date) -> pd.DataFrame:
    recent = UsageDaily.day >= day - dt.timedelta(days=30)
    query = (
        select(
            UsageDaily.account_id,
            func.sum(case((recent, UsageDaily.active_users), else_=0)).label("users_recent"),
            func.sum(case((recent, 0), else_=UsageDaily.active_users)).label("users_before"),
            func.sum(case((recent, UsageDaily.features_used), else_=0)).label("features_recent"),
            func.sum(case((recent, 1), else_=0)).label("days_recent"),
        )
        .where(UsageDaily.day >= day - dt.timedelta(days=60), UsageDaily.day < day)
        .group_by(UsageDaily.account_id)
    )
    return _read(query)


def _tickets(day: dt.date) -> pd.DataFrame:
    now = _midnight(day)
    open_then = and_(
        SupportTicket.created_at < now,
        or_(SupportTicket.solved_at.is_(None), SupportTicket.solved_at >= now),
    )
    recent = SupportTicket.created_at >= now - dt.timedelta(days=90)
    solved_recent = and_(recent, SupportTicket.solved_at < now)
    high = SupportTicket.priority.in_(("high", "urgent"))
    query = (
        select(
            SupportTicket.account_id,
            func.sum(case((open_then, 1), else_=0)).label("open_tickets"),
            func.sum(case((and_(open_then, high), 1), else_=0)).label("high_priority_open"),
            func.sum(case((recent, 1), else_=0)).label("tickets_90d"),
            func.avg(case((solved_recent, SupportTicket.first_reply_minutes))).label("reply_min"),
            func.avg(case((solved_recent, SupportTicket.resolution_minutes))).label("resolve_min"),
            func.sum(
                case((and_(solved_recent, SupportTicket.satisfaction == "good"), 1), else_=0)
            ).label("rated_good"),
            func.sum(
                case((and_(solved_recent, SupportTicket.satisfaction.is_not(None)), 1), else_=0)
            ).label("rated"),
        )
        .where(SupportTicket.created_at < now, or_(open_then, recent))
        .group_by(SupportTicket.account_id)
    )
    frame = _read(query)
    frame["first_reply_hours_90d"] = frame.pop("reply_min").astype(float) / 60
    frame["resolution_hours_90d"] = frame.pop("resolve_min").astype(float) / 60
    rated = frame.pop("rated").astype(float)
    frame["ticket_satisfaction_90d"] = frame.pop("rated_good").astype(float) / rated.replace(
        0, np.nan
    )
    return frame


def _responses(day: dt.date) -> pd.DataFrame:
    """Survey answers of the last 180 days before `day`, summarised per account in pandas."""
    now = _midnight(day)
    query = select(
        SurveyResponse.account_id,
        SurveyResponse.contact_id,
        SurveyResponse.kind,
        SurveyResponse.score,
        SurveyResponse.responded_at,
    ).where(
        SurveyResponse.responded_at < now,
        SurveyResponse.responded_at >= now - dt.timedelta(days=180),
    )
    answers = _read(query).sort_values("responded_at")
    if answers.empty:
        return pd.DataFrame({"account_id": pd.Series(dtype=int)})
    answers["recent"] = answers["responded_at"] >= now - dt.timedelta(days=90)
    latest = answers.groupby(["account_id", "kind"])["score"].last().unstack()
    latest = latest.reindex(columns=["nps", "csat", "ces"]).add_suffix("_latest")
    nps = answers[answers["kind"] == "nps"]
    means = nps.groupby(["account_id", "recent"])["score"].mean().unstack()
    trend = means.get(True, pd.Series(dtype=float)) - means.get(False, pd.Series(dtype=float))
    detractors = nps[nps["recent"] & (nps["score"] <= DETRACTOR_MAX)]
    summary = latest.assign(
        nps_trend=trend,
        detractors_90d=detractors.groupby("account_id").size(),
        detractor_contacts=detractors.groupby("account_id")["contact_id"].nunique(),
    )
    return summary.rename_axis("account_id").reset_index()


def _invitations(day: dt.date) -> pd.DataFrame:
    now = _midnight(day)
    query = (
        select(
            Invitation.account_id,
            func.count().label("sent"),
            func.sum(case((Invitation.answered_at < now, 1), else_=0)).label("answered"),
        )
        .where(Invitation.sent_at < now, Invitation.sent_at >= now - dt.timedelta(days=365))
        .group_by(Invitation.account_id)
    )
    return _read(query)


def _contacts(day: dt.date) -> pd.DataFrame:
    query = (
        select(Contact.account_id, func.count().label("contacts"))
        .where(Contact.created_at < _midnight(day + dt.timedelta(days=1)))
        .group_by(Contact.account_id)
    )
    return _read(query)


def _as_numbers(part: pd.DataFrame) -> pd.DataFrame:
    """An aggregate with float columns: a query without rows (no tickets at all, say) reads as
    object columns, which pandas would later downcast with a FutureWarning when filling them."""
    types = dict.fromkeys(part.columns, float) | {"account_id": int}
    return part.astype(types)


def days_to_next_renewal(renewal: pd.Series, day: dt.date) -> pd.Series:
    """Days from `day` to the account's renewal, rolled back by whole years while the stored
    (latest) renewal date is more than a year after `day`."""
    dates = pd.to_datetime(renewal)
    days = (dates - pd.Timestamp(day)).dt.days.astype(float)
    years_ahead = np.floor(days.clip(lower=0) / 365.25)
    return days - np.round(years_ahead * 365.25)


def features_as_of(day: dt.date) -> pd.DataFrame:
    """One row per live account on `day` with every feature in FEATURES (NaN where unknown)."""
    accounts = live_accounts(day)
    frame = accounts.drop(columns=["renewal_date", "created_at", "started"])
    for part in (_usage(day), _tickets(day), _responses(day), _invitations(day), _contacts(day)):
        frame = frame.merge(_as_numbers(part), on="account_id", how="left")
    seats = frame["seats"].replace(0, np.nan)
    days = frame["days_recent"].replace(0, np.nan)
    frame["active_users"] = frame["users_recent"] / days
    frame["active_users_change_30d"] = (
        frame["users_recent"] / frame["users_before"].replace(0, np.nan) - 1
    )
    frame["seat_utilisation"] = frame["active_users"] / seats
    frame["features_used"] = frame["features_recent"] / days
    frame["tickets_per_seat_90d"] = frame["tickets_90d"].fillna(0) / seats
    for column in ("open_tickets", "high_priority_open", "detractors_90d"):  # none known: 0
        frame[column] = frame[column].fillna(0).astype(float) if column in frame else 0.0
    frame["survey_response_rate"] = frame["answered"] / frame["sent"]
    detractors = frame.get("detractor_contacts", pd.Series(0.0, index=frame.index))
    frame["detractor_share"] = detractors.fillna(0) / frame["contacts"]
    frame["tenure_months"] = (pd.Timestamp(day) - accounts["started"]).dt.days / MONTH_DAYS
    frame["days_to_renewal"] = days_to_next_renewal(accounts["renewal_date"], day)
    frame["as_of"] = day
    for column in FEATURES:
        if column not in frame:
            frame[column] = np.nan
    numeric = [c for c in FEATURES if c not in CATEGORICAL]
    frame[numeric] = frame[numeric].astype(float)  # one dtype per column on every day
    for column in ("churned_at", "contract_start"):
        frame[column] = pd.to_datetime(frame[column])
    return frame[[*META_COLUMNS, *FEATURES]].set_index("account_id", drop=False)


def stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Snapshots one under the other, skipping days without any live account."""
    kept = [frame for frame in frames if len(frame)]
    return pd.concat(kept, ignore_index=True) if kept else frames[0].iloc[:0]


def model_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """The feature columns only (what the models see)."""
    return frame[list(FEATURES)]
