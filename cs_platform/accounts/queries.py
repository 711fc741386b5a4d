"""Read models for one account's page: score history, risk, usage, tickets, answers, timeline.

Each statement is built once, its values bind parameters (`account_id`, ...), and reused: building
and cache-keying an ORM select costs about as much Python as running it. The account and the facts
at the top of its page (latest score, churn risk, override, ticket counts, last day of usage,
whether it has traits) come in one statement; what the page only displays (tickets, answers,
timeline, contacts, the chart's points) comes as plain rows of the columns it shows, without the
ORM's objects, on PostgreSQL straight from the driver (`cs_platform.driver_reads`).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Row, Select, and_, bindparam, func, select
from sqlalchemy.orm import aliased, joinedload

from cs_platform.driver_reads import plain_rows
from cs_platform.extensions import db
from cs_platform.models import Account, AccountTrait, Contact, Task, TimelineEntry, User
from integrations.models import SupportTicket, UsageDaily
from scoring.models import BandOverride, ChurnRisk, HealthScore
from surveys.models import SurveyResponse

OPEN_TICKET_STATUSES = ("new", "open", "pending")
HISTORY_DAYS = 365
USAGE_SERIES_DAYS = 180
ACCOUNT_ID: BindParameter[int] = bindparam("account_id")
LIMIT: BindParameter[int] = bindparam("limit")


def owners() -> list[Row]:
    """Users who can own accounts, for the owner filter and assignee lists: (id, name) rows."""
    return list(db.session.execute(_owners_statement()))


@functools.cache
def _owners_statement() -> Select:
    users = User.__table__.c
    return select(users.id, users.name).where(users.role != "viewer").order_by(users.name)


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


def account_usage(account_id: int, today: dt.date, last_day: dt.date | None) -> AccountUsage:
    """The account's usage series and summary, from one read of the days either needs;
    `last_day` is its latest day of usage (`AccountFacts.last_usage_day`)."""
    if last_day is None:
        return AccountUsage([], UsageSummary(None, None))
    series_start = last_day - dt.timedelta(USAGE_SERIES_DAYS)
    after = min(series_start, today - dt.timedelta(days=60))
    values = {"account_id": account_id, "after": after}
    daily = [(day, users) for day, users in plain_rows(_statements().usage, values)]
    series = [(day, users) for day, users in daily if day > series_start]
    return AccountUsage(series, usage_summary(daily, today))


def _daily_users() -> Select:
    """The account's (day, active users) after `after`, sources combined, oldest first."""
    usage = UsageDaily.combined(
        UsageDaily.account_id == ACCOUNT_ID, UsageDaily.day > bindparam("after")
    )
    return select(usage.c.day, usage.c.active_users).order_by(usage.c.day)


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


def recent_tickets(account_id: int, limit: int = 10) -> list[Any]:
    """The latest tickets: subject, status, priority, created_at, satisfaction."""
    return _rows(_statements().tickets, account_id, limit)


def recent_responses(account_id: int, limit: int = 10) -> list[Any]:
    """The latest survey answers: kind, score, comment, responded_at, contact_name."""
    return _rows(_statements().responses, account_id, limit)


def timeline(account_id: int, limit: int = 50) -> list[Any]:
    """The latest timeline entries: kind, body, created_at, author_name."""
    return _rows(_statements().timeline, account_id, limit)


def contacts(account_id: int) -> list[Any]:
    """The account's contacts by name: name, role, email, unsubscribed_at."""
    return plain_rows(_statements().contacts, {"account_id": account_id})


def _rows(statement: Select, account_id: int, limit: int) -> list[Any]:
    return plain_rows(statement, {"account_id": account_id, "limit": limit})


@dataclass(frozen=True)
class AccountFacts:
    """The account (its owner loaded) and the facts at the top of its page: latest health score
    (drivers and changes included), latest churn risk, the band override in force, ticket
    counts, the last day of usage, and whether it has custom traits."""

    account: Account
    latest: HealthScore | None
    churn: ChurnRisk | None
    override: BandOverride | None
    tickets: TicketSummary
    last_usage_day: dt.date | None
    has_traits: bool


def account_facts(account_id: int, today: dt.date) -> AccountFacts | None:
    """The account and its facts in one statement; None when there is no such account."""
    since = dt.datetime.combine(today - dt.timedelta(days=90), dt.time())
    values = {"account_id": account_id, "today": today, "since": since}
    row = db.session.execute(_statements().facts, values).first()
    if row is None:
        return None
    account, latest, churn, override, last_usage_day, has_traits, *counts = row
    tickets = TicketSummary(*(count or 0 for count in counts))
    return AccountFacts(account, latest, churn, override, tickets, last_usage_day, has_traits)


def health_points(
    account_id: int, last_day: dt.date, days: int = HISTORY_DAYS
) -> list[tuple[dt.date, float]]:
    """(day, score) of the account's health over the `days` days to `last_day` (its latest),
    oldest first: the chart's points, without the drivers and changes of every row."""
    values = {"account_id": account_id, "after": last_day - dt.timedelta(days=days)}
    return [(day, score) for day, score in plain_rows(_statements().points, values)]


@dataclass(frozen=True)
class AccountStatements:
    """The page's per-account selects, built once; `account_id` (and `limit`, `after`, `today`,
    `since`) bound."""

    facts: Select
    points: Select
    usage: Select
    tickets: Select
    responses: Select
    timeline: Select
    contacts: Select
    tasks: Select


@functools.cache
def _statements() -> AccountStatements:
    return AccountStatements(
        facts=_facts(),
        points=_points(),
        usage=_daily_users(),
        tickets=_recent_tickets(),
        responses=_recent_responses(),
        timeline=_timeline(),
        contacts=_contacts(),
        tasks=_account_tasks(),
    )


def _facts() -> Select:
    """The account with its owner; its latest health score and churn risk (each the row of its
    latest day), the override in force (the newest), the last day of usage, whether it has
    traits, and the ticket counts: one row, the entities None when missing."""
    override = aliased(BandOverride)
    in_force = (
        select(override.id)
        .where(
            override.account_id == ACCOUNT_ID,
            override.ended_at.is_(None),
            override.expires_on >= bindparam("today"),
        )
        .order_by(override.created_at.desc(), override.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    last_usage_day = select(func.max(UsageDaily.day)).where(UsageDaily.account_id == ACCOUNT_ID)
    has_traits = select(AccountTrait.key).where(AccountTrait.account_id == ACCOUNT_ID).exists()
    counts = _ticket_counts().subquery("ticket_counts")
    return (
        select(Account, HealthScore, ChurnRisk, BandOverride)
        .add_columns(last_usage_day.scalar_subquery(), has_traits)
        .add_columns(*(column for column in counts.c if column.key != "account_id"))
        .options(joinedload(Account.owner))
        .select_from(Account)
        .outerjoin(HealthScore, _on_latest_day(HealthScore))
        .outerjoin(ChurnRisk, _on_latest_day(ChurnRisk))
        .outerjoin(BandOverride, BandOverride.id == in_force)
        .outerjoin(counts, counts.c.account_id == Account.id)
        .where(Account.id == ACCOUNT_ID)
    )


def _points() -> Select:
    scores = HealthScore.__table__.c
    return (
        select(scores.scored_on, scores.score)
        .where(scores.account_id == ACCOUNT_ID, scores.scored_on > bindparam("after"))
        .order_by(scores.scored_on)
    )


def _on_latest_day(model: type[HealthScore] | type[ChurnRisk]) -> ColumnElement[bool]:
    """Join condition: `model`'s row of the account's latest scoring day (one per day)."""
    scored = aliased(model)
    latest_day = select(func.max(scored.scored_on)).where(scored.account_id == ACCOUNT_ID)
    return and_(model.account_id == Account.id, model.scored_on == latest_day.scalar_subquery())


def _recent_tickets() -> Select:
    tickets = SupportTicket.__table__.c
    return (
        select(
            tickets.subject,
            tickets.status,
            tickets.priority,
            tickets.created_at,
            tickets.satisfaction,
        )
        .where(tickets.account_id == ACCOUNT_ID)
        .order_by(tickets.created_at.desc())
        .limit(LIMIT)
    )


def _recent_responses() -> Select:
    responses, contacts = SurveyResponse.__table__, Contact.__table__
    return (
        select(
            responses.c.kind,
            responses.c.score,
            responses.c.comment,
            responses.c.responded_at,
            contacts.c.name.label("contact_name"),
        )
        .outerjoin(contacts, contacts.c.id == responses.c.contact_id)
        .where(responses.c.account_id == ACCOUNT_ID)
        .order_by(responses.c.responded_at.desc())
        .limit(LIMIT)
    )


def _timeline() -> Select:
    entries, users = TimelineEntry.__table__, User.__table__
    return (
        select(
            entries.c.kind, entries.c.body, entries.c.created_at, users.c.name.label("author_name")
        )
        .outerjoin(users, users.c.id == entries.c.author_id)
        .where(entries.c.account_id == ACCOUNT_ID)
        .order_by(entries.c.created_at.desc(), entries.c.id.desc())
        .limit(LIMIT)
    )


def _contacts() -> Select:
    contacts = Contact.__table__.c
    return (
        select(contacts.name, contacts.role, contacts.email, contacts.unsubscribed_at)
        .where(contacts.account_id == ACCOUNT_ID)
        .order_by(contacts.name)
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


def _ticket_counts() -> Select:
    """Open tickets, tickets since `since` and their satisfaction ratings, in one pass."""
    tickets = SupportTicket.__table__.c
    recent = tickets.created_at >= bindparam("since")
    return (
        select(
            tickets.account_id,
            func.count().filter(tickets.status.in_(OPEN_TICKET_STATUSES)),
            func.count().filter(recent),
            func.count().filter(recent, tickets.satisfaction.is_not(None)),
            func.count().filter(recent, tickets.satisfaction == "good"),
        )
        .where(tickets.account_id == ACCOUNT_ID)
        .group_by(tickets.account_id)
    )


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
