"""Read models for one account's page: score history, risk, usage, tickets, answers, timeline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

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


def usage_summary(account_id: int, today: dt.date) -> UsageSummary:
    """Mean daily active users (sources combined) over the last 30 days (today included) and
    the 30 before."""
    start = today - dt.timedelta(days=60)
    middle = today - dt.timedelta(days=30)
    usage = UsageDaily.combined(UsageDaily.account_id == account_id, UsageDaily.day > start)
    recent = func.avg(usage.c.active_users).filter(usage.c.day > middle)
    previous = func.avg(usage.c.active_users).filter(usage.c.day <= middle)
    row = db.session.execute(select(recent, previous)).one()
    return UsageSummary(*(None if value is None else float(value) for value in row))


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
        .where(SurveyResponse.account_id == account_id)
        .order_by(SurveyResponse.responded_at.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


def timeline(account_id: int, limit: int = 50) -> list[TimelineEntry]:
    query = (
        select(TimelineEntry)
        .where(TimelineEntry.account_id == account_id)
        .order_by(TimelineEntry.created_at.desc(), TimelineEntry.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


def health_history(account_id: int, days: int = HISTORY_DAYS) -> list[HealthScore]:
    """The account's daily health scores over the last `days` days of its history, oldest first."""
    latest = db.session.scalar(
        select(func.max(HealthScore.scored_on)).where(HealthScore.account_id == account_id)
    )
    if latest is None:
        return []
    query = (
        select(HealthScore)
        .where(
            HealthScore.account_id == account_id,
            HealthScore.scored_on > latest - dt.timedelta(days=days),
        )
        .order_by(HealthScore.scored_on)
    )
    return list(db.session.scalars(query))


def latest_churn_risk(account_id: int) -> ChurnRisk | None:
    query = (
        select(ChurnRisk)
        .where(ChurnRisk.account_id == account_id)
        .order_by(ChurnRisk.scored_on.desc())
        .limit(1)
    )
    return db.session.scalar(query)


def usage_series(account_id: int, days: int = 180) -> list[tuple[dt.date, int]]:
    """Daily active users (sources combined) over the account's last `days` days of usage,
    oldest first."""
    latest = db.session.scalar(
        select(func.max(UsageDaily.day)).where(UsageDaily.account_id == account_id)
    )
    if latest is None:
        return []
    usage = UsageDaily.combined(
        UsageDaily.account_id == account_id, UsageDaily.day > latest - dt.timedelta(days)
    )
    query = select(usage.c.day, usage.c.active_users).order_by(usage.c.day)
    return [(day, users) for day, users in db.session.execute(query)]


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
    """Open and snoozed tasks first (by due date), then the last few done ones."""
    live = (
        select(Task)
        .where(Task.account_id == account_id, Task.status != "done")
        .order_by(Task.due_date.asc().nulls_last(), Task.id)
    )
    done = (
        select(Task)
        .where(Task.account_id == account_id, Task.status == "done")
        .order_by(Task.completed_at.desc())
        .limit(done_limit)
    )
    return list(db.session.scalars(live)) + list(db.session.scalars(done))
