"""Point-in-time features for every account, built set-wise from the database.

`features_as_of(day)` returns one row per account that was a customer on `day`, using only what
was known before `day`: usage days before it, tickets created before it (open if not solved
before it), survey answers given before it. A handful of aggregate queries per day, never one per
account. CRM fields (ARR, seats, plan, segment, contract start and renewal dates) are taken as
they were at the end of `day`, from the account history that CRM syncs and the API write (an
account without history rows has had today's values all along); the renewal date is then rolled
back along its yearly cycle.

A row scoring cannot use (a date outside cs_platform.date_range that is not an evergreen renewal,
a number that is not finite) is quarantined: `feature_snapshot` names it with the reason and
`features_as_of` leaves it out, so one account's bad data never stops the others.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import Select, and_, case, func, or_, select

from cs_platform.date_range import EARLIEST_DATE, EVERGREEN_FROM, LATEST_DATE
from cs_platform.extensions import db
from cs_platform.models import Account, AccountChange, Contact
from integrations.models import SupportTicket, UsageDaily
from surveys.models import NPS_LIMITS, Invitation, SurveyResponse

MONTH_DAYS = 30.4375
ISO_DATE = r"\d{4}-\d{2}-\d{2}"
DETRACTOR_MAX = NPS_LIMITS[0]  # NPS 0-6
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
    """The query's rows as pd.read_sql reads them; on PostgreSQL from the driver's own tuples,
    without a SQLAlchemy row per account (no result processing is lost: psycopg returns the
    Python types these columns read as)."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return pd.read_sql(query, connection)
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    cursor = connection.connection.cursor()
    cursor.execute(str(compiled), compiled.params)
    columns = [column[0] for column in cursor.description or ()]
    return pd.DataFrame.from_records(cursor.fetchall(), columns=columns, coerce_float=True)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def _numbers(values: pd.Series) -> pd.Series:
    """Numbers as floats; NaN for text that is not one (quarantined by number_problems)."""
    return pd.to_numeric(values, errors="coerce").astype(float)


def _dates(values: pd.Series) -> pd.Series:
    """Dates or their ISO text as timestamps; NaT for none, for text that is not a date and for a
    date pandas cannot hold (quarantined by date_problems)."""
    return pd.to_datetime(values.astype("string"), format="ISO8601", errors="coerce")


def _evergreen(text: pd.Series) -> pd.Series:
    """Whether each ISO date text is an evergreen renewal: from EVERGREEN_FROM on, no renewal."""
    return text.str.match(ISO_DATE, na=False) & text.ge(EVERGREEN_FROM.isoformat()).fillna(False)


def _renewal_dates(values: pd.Series) -> pd.Series:
    """Renewal dates as _dates reads them; NaT (no renewal date) for an evergreen one."""
    return _dates(values).mask(_evergreen(values.astype("string")), pd.NaT)


def _as_is(values: pd.Series) -> pd.Series:
    return values


# How each CRM field with history is typed in the accounts frame, from its text in the history.
HISTORY_TYPES = {
    "arr": _numbers,
    "seats": _numbers,
    "contract_start": _dates,
    "renewal_date": _renewal_dates,
    "plan": _as_is,
    "segment": _as_is,
}
COLUMN_TYPES = HISTORY_TYPES | {"churned_at": _dates}
# The dates scoring reads, as a quarantine reason names them.
DATE_LABELS = {
    "contract_start": "contract start",
    "renewal_date": "renewal date",
    "churned_at": "churn date",
}
# Numbers every account has (the database requires them): NaN there is bad data, not unknown.
REQUIRED_NUMBERS = ("arr", "seats")


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
    as the nightly run of that day sees them. Typed by COLUMN_TYPES, with a `problem` naming a
    date that scoring cannot use ('' if none)."""
    given = accounts.astype(dict.fromkeys(AccountChange.FIELDS, object))
    for field, changes in _first_changes_after(day).groupby("field"):
        old = changes.set_index("account_id")["old_value"]
        later = given["account_id"].isin(old.index)
        given.loc[later, field] = given.loc[later, "account_id"].map(old)
    typed = given.assign(**{column: kind(given[column]) for column, kind in COLUMN_TYPES.items()})
    return typed.assign(problem=date_problems(given, typed))


def date_problems(given: pd.DataFrame, typed: pd.DataFrame) -> pd.Series:
    """Per account, the first date scoring cannot use, as "renewal date 2300-01-01 out of range"
    ('' if none): one outside cs_platform.date_range, unless an evergreen renewal (no renewal)."""
    problem = pd.Series("", index=given.index, dtype=object)
    for column, label in DATE_LABELS.items():
        text = given[column].astype("string")
        usable = text.isna() | typed[column].between(
            pd.Timestamp(EARLIEST_DATE), pd.Timestamp(LATEST_DATE)
        )
        if column == "renewal_date":
            usable |= _evergreen(text)
        reason = f"{label} " + text.str.slice(0, 40) + " out of range"
        problem = problem.mask(~usable & problem.eq(""), reason)
    return problem


def live_accounts(day: dt.date) -> pd.DataFrame:
    """Accounts that were customers on `day` (started before it, not churned by it), with their
    CRM fields as they were then and the day they `started`; and those with a date `problem`, to
    be quarantined (whether they had started is not known)."""
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
    live = (accounts["started"] <= pd.Timestamp(day)) | accounts["problem"].ne("")
    return accounts[live].reset_index(drop=True)


def _usage(day: dt.date) -> pd.DataFrame:
    """Usage sums over the 60 days before `day`, read through UsageDaily.combined(): one figure
    per account and day across sources, each the largest any source reported."""
    usage = UsageDaily.combined(UsageDaily.day >= day - dt.timedelta(days=60), UsageDaily.day < day)
    recent = usage.c.day >= day - dt.timedelta(days=30)
    query = select(
        usage.c.account_id,
        func.sum(case((recent, usage.c.active_users), else_=0)).label("users_recent"),
        func.sum(case((recent, 0), else_=usage.c.active_users)).label("users_before"),
        func.sum(case((recent, usage.c.features_used), else_=0)).label("features_recent"),
        func.sum(case((recent, 1), else_=0)).label("days_recent"),
    ).group_by(usage.c.account_id)
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


class FeatureSnapshot(NamedTuple):
    """The features of a day, and the live accounts quarantined from them (account_id, reason)."""

    features: pd.DataFrame
    quarantined: pd.DataFrame


def features_as_of(day: dt.date) -> pd.DataFrame:
    """One row per live account on `day` with every feature in FEATURES (NaN where unknown),
    but none for an account whose data cannot be scored (see feature_snapshot)."""
    return feature_snapshot(day).features


def feature_snapshot(day: dt.date) -> FeatureSnapshot:
    """The features of every live account on `day`, apart from the accounts quarantined for a
    date or a number that cannot be scored, which are named with the reason."""
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
    return quarantine(frame)


def quarantine(frame: pd.DataFrame) -> FeatureSnapshot:
    """Split rows scoring can use from those with a `problem` date or a number it cannot use."""
    problem = frame["problem"].mask(frame["problem"].eq(""), number_problems(frame))
    bad = problem.ne("")
    features = frame.loc[~bad, [*META_COLUMNS, *FEATURES]].set_index("account_id", drop=False)
    quarantined = pd.DataFrame({"account_id": frame.loc[bad, "account_id"], "reason": problem[bad]})
    return FeatureSnapshot(features, quarantined.reset_index(drop=True))


def number_problems(frame: pd.DataFrame) -> pd.Series:
    """Per row, the first numeric feature that is infinite, or NaN where the database requires a
    value, as "arr is not a finite number (inf)" ('' if none)."""
    numbers = frame[[c for c in FEATURES if c not in CATEGORICAL]]
    bad = np.isinf(numbers) | (numbers.isna() & numbers.columns.isin(REQUIRED_NUMBERS))
    first = bad.to_numpy().argmax(axis=1)
    value = numbers.to_numpy()[np.arange(len(numbers)), first]
    reason = numbers.columns[first] + " is not a finite number (" + value.astype(str) + ")"
    return pd.Series(np.where(bad.any(axis=1), reason, ""), index=frame.index)


def stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Snapshots one under the other, skipping days without any live account."""
    kept = [frame for frame in frames if len(frame)]
    return pd.concat(kept, ignore_index=True) if kept else frames[0].iloc[:0]


def model_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """The feature columns only (what the models see)."""
    return frame[list(FEATURES)]
