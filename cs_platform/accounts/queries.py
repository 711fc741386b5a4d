"""Read models for one account's page: score history, risk, usage, tickets, answers, timeline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from cs_platform.extensions import db
from cs_platform.models import Task, TimelineEntry, User
from integrations.models import SupportTicket, UsageDaily
from scoring.models import ChurnRisk, HealthScore
from surveys.models import SurveyResponse

OPEN_TICKET_STATUSES = ("new", "open", "pending")
HISTORY_DAYS = 365


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
    latest = db.session.scalar(
        select(func.max(UsageDaily.day)).where(UsageDaily.account_id == account_id)
    )
    if latest is None:
        return AccountUsage([], UsageSummary(None, None))
    series_start = latest - dt.timedelta(days)
    summary_start = today - dt.timedelta(days=60)
    usage = UsageDaily.combined(
        UsageDaily.account_id == account_id, UsageDaily.day > min(series_start, summary_start)
    )
    rows = db.session.execute(select(usage.c.day, usage.c.active_users).order_by(usage.c.day))
    daily = [(day, users) for day, users in rows]
    series = [(day, users) for day, users in daily if day > series_start]
    return AccountUsage(series, usage_summary(daily, today))


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
    query = (
        select(SupportTicket)
        .where(SupportTicket.account_id == account_id)
        .order_by(SupportTicket.created_at.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


def recent_responses(account_id: int, limit: int = 10) -> list[SurveyResponse]:
    query = (
        select(SurveyResponse)
        .options(joinedload(SurveyResponse.contact))
        .where(SurveyResponse.account_id == account_id)
        .order_by(SurveyResponse.responded_at.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


def timeline(account_id: int, limit: int = 50) -> list[TimelineEntry]:
    query = (
        select(TimelineEntry)
        .options(joinedload(TimelineEntry.author))
        .where(TimelineEntry.account_id == account_id)
        .order_by(TimelineEntry.created_at.desc(), TimelineEntry.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


def latest_health(account_id: int) -> HealthScore | None:
    """The account's latest health score, drivers and changes included."""
    query = (
        select(HealthScore)
        .where(HealthScore.account_id == account_id)
        .order_by(HealthScore.scored_on.desc())
        .limit(1)
    )
    return db.session.scalar(query)


def health_points(
    account_id: int, last_day: dt.date, days: int = HISTORY_DAYS
) -> list[tuple[dt.date, float]]:
    """(day, score) of the account's health over the `days` days to `last_day` (its latest),
    oldest first: the chart's points, without the drivers and changes of every row."""
    query = (
        select(HealthScore.scored_on, HealthScore.score)
        .where(
            HealthScore.account_id == account_id,
            HealthScore.scored_on > last_day - dt.timedelta(days=days),
        )
        .order_by(HealthScore.scored_on)
    )
    return [(day, score) for day, score in db.session.execute(query)]


def latest_churn_risk(account_id: int) -> ChurnRisk | None:
    query = (
        select(ChurnRisk)
        .where(ChurnRisk.account_id == account_id)
        .order_by(ChurnRisk.scored_on.desc())
        .limit(1)
    )
    return db.session.scalar(query)


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
    recent = SupportTicket.created_at >= since
    row = db.session.execute(
        select(
            func.count().filter(SupportTicket.status.in_(OPEN_TICKET_STATUSES)),
            func.count().filter(recent),
            func.count().filter(recent, SupportTicket.satisfaction.is_not(None)),
            func.count().filter(recent, SupportTicket.satisfaction == "good"),
        ).where(SupportTicket.account_id == account_id)
    ).one()
    return TicketSummary(*(value or 0 for value in row))


def account_tasks(account_id: int, done_limit: int = 5) -> list[Task]:
    """Open and snoozed tasks first (by due date), then the last few done ones; one query."""
    last_done = (
        select(Task.id)
        .where(Task.account_id == account_id, Task.status == "done")
        .order_by(Task.completed_at.desc())
        .limit(done_limit)
        .subquery()
    )
    not_done = select(Task.id).where(Task.account_id == account_id, Task.status != "done")
    shown = not_done.union_all(select(last_done.c.id))
    query = select(Task).options(joinedload(Task.owner)).where(Task.id.in_(shown))
    tasks = list(db.session.scalars(query))
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
