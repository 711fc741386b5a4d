"""Read models for one account's page: score history, risk, usage, tickets, answers, timeline.

Each statement is built once, its values bind parameters (`account_id`, ...), and reused: building
and cache-keying an ORM select costs about as much Python as running it.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from sqlalchemy import BindParameter, Select, bindparam, func, select
from sqlalchemy.orm import joinedload

from cs_platform.extensions import db
from cs_platform.models import Account, Task, TimelineEntry, User
from integrations.models import SupportTicket, UsageDaily
from scoring.models import ChurnRisk, HealthScore
from surveys.models import SurveyResponse

OPEN_TICKET_STATUSES = ("new", "open", "pending")
HISTORY_DAYS = 365
ACCOUNT_ID: BindParameter[int] = bindparam("account_id")
LIMIT: BindParameter[int] = bindparam("limit")


def account(account_id: int) -> Account | None:
    """The account with its owner."""
    return db.session.scalar(_statements().account, {"account_id": account_id})


def owners() -> list[User]:
    """Users who can own accounts, for the owner filter."""
    return list(db.session.scalars(select(User).where(User.role != "viewer").order_by(User.name)))


@dataclass(frozen=True)
class UsageSummary:
    active_users_30d: float | None
    active_users_prev_30d: float | None

    @property
    def change_pct(self) -> float | None:
        if not self.active_users_30d or not self.active_users_prev_30d:
            return None
        return (
            100.0
            * (self.active_users_30d - self.active_users_prev_30d)
            / self.active_users_prev_30d
        )


@dataclass(frozen=True)
class AccountUsage:
    """Daily active users (sources combined) over the account's last 180 days of usage, oldest
    first, and the mean of the last 30 days (today included) against the 30 before."""

    series: list[tuple[dt.date, int]]
    summary: UsageSummary


def account_usage(account_id: int, today: dt.date, days: int = 180) -> AccountUsage:
    """The account's usage series and summary, from one read of the days either needs."""
    last_day, daily_users = _usage_statements()
    latest = db.session.scalar(last_day, {"account_id": account_id})
    if latest is None:
        return AccountUsage([], UsageSummary(None, None))
    series_start = latest - dt.timedelta(days)
    summary_start = today - dt.timedelta(days=60)
    after = min(series_start, summary_start)
    rows = db.session.execute(daily_users, {"account_id": account_id, "after": after})
    daily = [(day, users) for day, users in rows]
    series = [(day, users) for day, users in daily if day > series_start]
    return AccountUsage(series, usage_summary(daily, today))


@functools.cache
def _usage_statements() -> tuple[Select, Select]:
    """The account's last day of usage; its (day, active users) after `after`, sources combined."""
    last_day = select(func.max(UsageDaily.day)).where(UsageDaily.account_id == ACCOUNT_ID)
    usage = UsageDaily.combined(
        UsageDaily.account_id == ACCOUNT_ID, UsageDaily.day > bindparam("after")
    )
    return last_day, select(usage.c.day, usage.c.active_users).order_by(usage.c.day)


def usage_summary(daily: list[tuple[dt.date, int]], today: dt.date) -> UsageSummary:
    """Mean daily active users over the 30 days to today and the 30 before, from `daily`."""
    middle, start = today - dt.timedelta(days=30), today - dt.timedelta(days=60)
    recent = [users for day, users in daily if day > middle]
    previous = [users for day, users in daily if start < day <= middle]
    return UsageSummary(mean(recent), mean(previous))


def mean(values: list[int]) -> float | None:
    """The mean of the non-null values, None when there are none (as SQL's avg)."""
    present = [value for value in values if value is not None]
    return sum(present) / len(present) if present else None


def recent_tickets(account_id: int, limit: int = 10) -> list[SupportTicket]:
    values = {"account_id": account_id, "limit": limit}
    return list(db.session.scalars(_statements().tickets, values))


def recent_responses(account_id: int, limit: int = 10) -> list[SurveyResponse]:
    values = {"account_id": account_id, "limit": limit}
    return list(db.session.scalars(_statements().responses, values))


def timeline(account_id: int, limit: int = 50) -> list[TimelineEntry]:
    values = {"account_id": account_id, "limit": limit}
    return list(db.session.scalars(_statements().timeline, values))


def latest_health(account_id: int) -> HealthScore | None:
    """The account's latest health score, drivers and changes included."""
    return db.session.scalar(_statements().latest_health, {"account_id": account_id})


def health_points(
    account_id: int, last_day: dt.date, days: int = HISTORY_DAYS
) -> list[tuple[dt.date, float]]:
    """(day, score) of the account's health over the `days` days to `last_day` (its latest),
    oldest first: the chart's points, without the drivers and changes of every row."""
    values = {"account_id": account_id, "after": last_day - dt.timedelta(days=days)}
    return [(day, score) for day, score in db.session.execute(_statements().points, values)]


def latest_churn_risk(account_id: int) -> ChurnRisk | None:
    return db.session.scalar(_statements().latest_churn, {"account_id": account_id})


@dataclass(frozen=True)
class AccountStatements:
    """The page's per-account selects, built once; `account_id` (and `limit`, `after`) bound."""

    account: Select
    tickets: Select
    responses: Select
    timeline: Select
    latest_health: Select
    points: Select
    latest_churn: Select
    ticket_counts: Select
    tasks: Select


@functools.cache
def _statements() -> AccountStatements:
    return AccountStatements(
        account=select(Account).options(joinedload(Account.owner)).where(Account.id == ACCOUNT_ID),
        tickets=select(SupportTicket)
        .where(SupportTicket.account_id == ACCOUNT_ID)
        .order_by(SupportTicket.created_at.desc())
        .limit(LIMIT),
        responses=select(SurveyResponse)
        .options(joinedload(SurveyResponse.contact))
        .where(SurveyResponse.account_id == ACCOUNT_ID)
        .order_by(SurveyResponse.responded_at.desc())
        .limit(LIMIT),
        timeline=select(TimelineEntry)
        .options(joinedload(TimelineEntry.author))
        .where(TimelineEntry.account_id == ACCOUNT_ID)
        .order_by(TimelineEntry.created_at.desc(), TimelineEntry.id.desc())
        .limit(LIMIT),
        latest_health=select(HealthScore)
        .where(HealthScore.account_id == ACCOUNT_ID)
        .order_by(HealthScore.scored_on.desc())
        .limit(1),
        points=select(HealthScore.scored_on, HealthScore.score)
        .where(HealthScore.account_id == ACCOUNT_ID, HealthScore.scored_on > bindparam("after"))
        .order_by(HealthScore.scored_on),
        latest_churn=select(ChurnRisk)
        .where(ChurnRisk.account_id == ACCOUNT_ID)
        .order_by(ChurnRisk.scored_on.desc())
        .limit(1),
        ticket_counts=_ticket_counts(),
        tasks=_account_tasks(),
    )


@dataclass(frozen=True)
class TicketSummary:
    open: int
    last_90d: int
    rated: int
    rated_good: int

    @property
    def satisfaction_pct(self) -> float | None:
        return None if not self.rated else 100.0 * self.rated_good / self.rated


def ticket_summary(account_id: int, today: dt.date) -> TicketSummary:
    """Open tickets, tickets in the last 90 days and their satisfaction ratings, in one query."""
    since = dt.datetime.combine(today - dt.timedelta(days=90), dt.time())
    values = {"account_id": account_id, "since": since}
    row = db.session.execute(_statements().ticket_counts, values).one()
    return TicketSummary(*(value or 0 for value in row))


def _ticket_counts() -> Select:
    recent = SupportTicket.created_at >= bindparam("since")
    return select(
        func.count().filter(SupportTicket.status.in_(OPEN_TICKET_STATUSES)),
        func.count().filter(recent),
        func.count().filter(recent, SupportTicket.satisfaction.is_not(None)),
        func.count().filter(recent, SupportTicket.satisfaction == "good"),
    ).where(SupportTicket.account_id == ACCOUNT_ID)


def account_tasks(account_id: int, done_limit: int = 5) -> list[Task]:
    """Open and snoozed tasks first (by due date), then the last few done ones; one query."""
    values = {"account_id": account_id, "limit": done_limit}
    tasks = list(db.session.scalars(_statements().tasks, values))
    live = sorted(
        (task for task in tasks if task.status != "done"),
        key=lambda task: (task.due_date is None, task.due_date or dt.date.min, task.id),
    )
    done = sorted(
        (task for task in tasks if task.status == "done"),
        key=lambda task: task.completed_at or dt.datetime.min,
        reverse=True,
    )
    return live + done


def _account_tasks() -> Select:
    last_done = (
        select(Task.id)
        .where(Task.account_id == ACCOUNT_ID, Task.status == "done")
        .order_by(Task.completed_at.desc())
        .limit(LIMIT)
        .subquery()
    )
    not_done = select(Task.id).where(Task.account_id == ACCOUNT_ID, Task.status != "done")
    shown = not_done.union_all(select(last_done.c.id))
    return select(Task).options(joinedload(Task.owner)).where(Task.id.in_(shown))
