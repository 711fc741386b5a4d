"""Working tasks: who may act on them, snooze, complete, assign, manual tasks, playbooks,
the paged task list, bulk changes and the renewal rule.

Services flush; the request or job that calls them commits.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import selectinload

from cs_platform.accounts.risk import active_overrides
from cs_platform.accounts.services import can_edit_account, in_team_of
from cs_platform.extensions import db, rowcount
from cs_platform.models import TASK_KINDS, Account, Task, TimelineEntry, User, utcnow
from cs_platform.paging import page_count
from cs_platform.request_args import is_database_id
from cs_platform.tasks.models import Playbook, TaskStep
from cs_platform.webhooks.events import publish_events, publish_task_created, task_data
from scoring.models import BANDS, HealthScore

SEVERITY_ORDER = case({"high": 0, "medium": 1, "low": 2}, value=Task.severity)
# When a task next needs someone: a snoozed one when it wakes, an open one when it is due.
NEXT_DATE = case((Task.status == "snoozed", Task.snoozed_until), else_=Task.due_date)
TASK_PAGE_SIZE = 50
TASK_SORTS = ("due", "priority")
DUE_FILTERS = ("overdue", "week")
RENEWAL_TASK_DAYS = 90  # default window before renewal in which its prep task opens
RENEWAL_DUE_DAYS = 60  # the prep is due this long before the renewal (or at once when later)
OUTCOME_LABELS = {"saved": "Saved", "churned": "Churned anyway", "not_a_risk": "Not a risk"}
DEFAULT_PLAYBOOKS = [
    {
        "name": "Detractor call-back",
        "task_kind": "detractor",
        "description": "Close the loop with an unhappy respondent.",
        "steps": [
            "Call the respondent within 48 hours",
            "Log the reason for the low score",
            "Agree a fix and a date with the customer",
            "Send a follow-up survey after the fix",
        ],
    },
    {
        "name": "Churn-risk save plan",
        "task_kind": "churn_risk",
        "description": "Work an account the model flags as likely to churn before renewal.",
        "steps": [
            "Review the drivers and recent tickets",
            "Book a call with the executive sponsor",
            "Agree a success plan with dated goals",
            "Check usage again after 30 days",
        ],
    },
    {
        "name": "Renewal prep",
        "task_kind": "renewal",
        "description": "Get ahead of a renewal 90 days out.",
        "steps": [
            "Confirm the decision maker and the renewal process",
            "Prepare a value summary (usage, outcomes)",
            "Send the renewal proposal",
        ],
    },
]


class TaskError(Exception):
    """A task change that cannot be made; the message is shown to the user."""


def can_edit_task(user: User, task: Task) -> bool:
    """Whoever may edit the account, a CSM or team lead the task is assigned to, and a team
    lead for a task assigned to one of their team."""
    if can_edit_account(user, task.account):
        return True
    if not user.is_authenticated or user.role not in ("csm", "team_lead"):
        return False
    return task.owner_id == user.id or in_team_of(user, task.owner_id)


@dataclass(frozen=True)
class Claimer:
    """Who may take which open task over: an admin any; a CSM or team lead one owned by nobody
    or by their team, on an account unowned or owned by their team. A CSM's team: their team
    lead and everyone with the same lead; a lead's: everyone they lead (both include the user)."""

    user: User
    team: frozenset[int]

    @classmethod
    def of(cls, user: User) -> Claimer:
        """The claimer for `user`, their team read in one statement."""
        lead = user.id if user.role == "team_lead" else user.team_lead_id
        members: set[int] = {user.id}
        if lead is not None:
            query = select(User.id).where(or_(User.id == lead, User.team_lead_id == lead))
            members.update(db.session.scalars(query))
        return cls(user, frozenset(members))

    def may_claim(self, task: Task) -> bool:
        user = self.user
        if not user.is_authenticated or not user.can_edit or task.status == "done":
            return False
        if task.owner_id == user.id:
            return False
        if user.role == "admin":
            return True
        if task.owner_id is not None and task.owner_id not in self.team:
            return False
        account_owner = task.account.owner_id
        return account_owner is None or account_owner in self.team


def claim(task: Task, user: User, seen_owner_id: int | None) -> bool:
    """Make the task `user`'s if its owner is still `seen_owner_id` (one conditional UPDATE:
    of two concurrent claims the first wins); False when someone changed it meanwhile."""
    result = db.session.execute(
        update(Task)
        .where(
            Task.id == task.id,
            Task.status != "done",
            Task.owner_id.is_not_distinct_from(seen_owner_id),
        )
        .values(owner_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        return False
    previous = db.session.get(User, seen_owner_id) if seen_owner_id else None
    before = f"it was {previous.name}'s" if previous else "it was unassigned"
    _log(task, user, f"Claimed “{task.title}” ({before})")
    db.session.flush()
    db.session.refresh(task)
    return True


def _log(task: Task, author: User, body: str) -> None:
    db.session.add(
        TimelineEntry(account_id=task.account_id, author_id=author.id, kind="task", body=body)
    )


def snooze(task: Task, author: User, until: dt.date, reason: str) -> None:
    """Hide the task until `until`; the rules do not re-create it meanwhile."""
    if task.status == "done":
        raise TaskError("This task is already done.")
    task.status, task.snoozed_until, task.snooze_reason = "snoozed", until, reason
    _log(task, author, f"Snoozed “{task.title}” until {until.isoformat()}: {reason}")
    db.session.flush()


def complete(task: Task, author: User, outcome: str, note: str = "") -> None:
    """Close the task with its outcome: saved, churned anyway or not a risk."""
    if task.status == "done":
        raise TaskError("This task is already done.")
    task.status, task.outcome, task.completed_at = "done", outcome, utcnow()
    task.snoozed_until = None
    suffix = f": {note}" if note else ""
    _log(task, author, f"Closed “{task.title}” as {OUTCOME_LABELS[outcome].lower()}{suffix}")
    db.session.flush()


def assign(
    task: Task, author: User, owner: User | None, due: dt.date | None, severity: str
) -> None:
    task.owner_id = owner.id if owner else None
    task.due_date, task.severity = due, severity
    who = owner.name if owner else "nobody"
    _log(task, author, f"Assigned “{task.title}” to {who}, due {due or 'any time'}")
    db.session.flush()


def create_manual(
    account: Account,
    author: User,
    *,
    title: str,
    due: dt.date | None,
    severity: str,
    details: str,
) -> Task:
    """A task a CSM writes by hand, owned by the account's owner (or its author)."""
    task = Task(
        account_id=account.id,
        kind="manual",
        severity=severity,
        owner_id=account.owner_id or author.id,
        title=title,
        reason=f"manual-{secrets.token_hex(6)}",  # manual tasks never de-duplicate
        details=details,
        due_date=due,
    )
    db.session.add(task)
    db.session.flush()
    publish_task_created(task)
    _log(task, author, f"Created task “{title}”")
    return task


def apply_playbook(task: Task, playbook: Playbook) -> list[TaskStep]:
    """Copy the playbook's steps onto the task, after any steps it already has."""
    existing = db.session.scalars(select(TaskStep).where(TaskStep.task_id == task.id)).all()
    if any(step.playbook_id == playbook.id for step in existing):
        raise TaskError(f"The playbook “{playbook.name}” is already on this task.")
    start = len(existing)
    steps = [
        TaskStep(task_id=task.id, playbook_id=playbook.id, position=start + i, title=title)
        for i, title in enumerate(playbook.steps)
    ]
    db.session.add_all(steps)
    db.session.flush()
    return steps


def toggle_step(step: TaskStep, author: User) -> None:
    step.done_at, step.done_by_id = (None, None) if step.done_at else (utcnow(), author.id)
    db.session.flush()


def steps_by_task(task_ids: list[int]) -> dict[int, list[TaskStep]]:
    """The checklist steps of several tasks, in one query."""
    result: dict[int, list[TaskStep]] = {task_id: [] for task_id in task_ids}
    if not task_ids:
        return result
    query = (
        select(TaskStep)
        .where(TaskStep.task_id.in_(task_ids))
        .order_by(TaskStep.task_id, TaskStep.position)
    )
    for step in db.session.scalars(query):
        result[step.task_id].append(step)
    return result


def playbooks() -> list[Playbook]:
    return list(db.session.scalars(select(Playbook).order_by(Playbook.name)))


def install_default_playbooks() -> int:
    """Add the built-in playbooks that are missing by name; returns how many were added."""
    names = set(db.session.scalars(select(Playbook.name)))
    missing = [Playbook(**spec) for spec in DEFAULT_PLAYBOOKS if spec["name"] not in names]
    db.session.add_all(missing)
    db.session.flush()
    return len(missing)


def wake_snoozed(today: dt.date) -> int:
    """Reopen snoozed tasks whose date has come; returns how many woke up."""
    result = db.session.execute(
        update(Task)
        .where(Task.status == "snoozed", Task.snoozed_until <= today)
        .values(status="open")
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) or 0


@dataclass(frozen=True)
class TaskFilters:
    """The task list's view, as read from (and written back to) the query string."""

    scope: str = "mine"  # "mine" or "team"
    owner: str = ""  # "", "me", "none" or a user id
    kind: str = ""
    due: str = ""  # "", "overdue" or "week"
    band: str = ""
    sort: str = "due"
    page: int = 1

    @classmethod
    def from_args(cls, args: Any) -> TaskFilters:
        """Parse request args, dropping anything not allowed instead of trusting it."""
        owner, page = args.get("owner", ""), args.get("page", "")
        return cls(
            scope="team" if args.get("scope") == "team" else "mine",
            owner=owner if owner in ("me", "none") or is_database_id(owner) else "",
            kind=_allowed(args.get("kind", ""), TASK_KINDS),
            due=_allowed(args.get("due", ""), DUE_FILTERS),
            band=_allowed(args.get("band", ""), BANDS),
            sort=_allowed(args.get("sort", ""), TASK_SORTS) or "due",
            page=max(int(page), 1) if page.isdecimal() and len(page) < 7 else 1,
        )

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query-string arguments of this view (defaults left out), with `changes` applied."""
        defaults = asdict(TaskFilters())
        values = asdict(replace(self, **changes))
        return {key: value for key, value in values.items() if value != defaults[key]}


def _allowed(value: str, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else ""


@dataclass(frozen=True)
class TaskPage:
    tasks: list[Task]
    total: int
    page: int
    per_page: int = TASK_PAGE_SIZE

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)


def task_page(filters: TaskFilters, user: User, today: dt.date) -> TaskPage:
    """One page of the open and snoozed tasks of the view, with the total: two statements
    (count, page) and one each for the page's accounts and owners, whatever the page holds."""
    query = task_query(filters, user, today)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = (
        query.order_by(*_order(filters.sort))
        .options(selectinload(Task.account), selectinload(Task.owner))
        .limit(TASK_PAGE_SIZE)
        .offset((filters.page - 1) * TASK_PAGE_SIZE)
    )
    return TaskPage(list(db.session.scalars(page)), total, filters.page)


def task_query(filters: TaskFilters, user: User, today: dt.date) -> Select:
    """The view's tasks not done, unsorted: mine (assigned to me, or unassigned on my
    accounts) or the team's, narrowed by the filters."""
    query = select(Task).join(Account, Account.id == Task.account_id).where(Task.status != "done")
    if filters.scope == "mine":
        unassigned_on_mine = Task.owner_id.is_(None) & (Account.owner_id == user.id)
        query = query.where(or_(Task.owner_id == user.id, unassigned_on_mine))
    if filters.owner:
        query = query.where(_owned_by(filters.owner, user))
    if filters.kind:
        query = query.where(Task.kind == filters.kind)
    if filters.due == "overdue":
        query = query.where(Task.status == "open", Task.due_date < today)
    elif filters.due == "week":
        sunday = today + dt.timedelta(days=6 - today.weekday())
        query = query.where(NEXT_DATE.between(today, sunday))
    if filters.band:
        query = query.where(Task.account_id.in_(accounts_in_band(filters.band, today)))
    return query


def _owned_by(owner: str, user: User) -> ColumnElement[bool]:
    if owner == "me":
        return Task.owner_id == user.id
    if owner == "none":
        return Task.owner_id.is_(None)
    return Task.owner_id == int(owner)


def _order(sort: str) -> list[SQLColumnExpression[Any]]:
    """Soonest first (a snoozed task by its wake date, so it never tops the list as overdue),
    or most severe first; undated tasks last."""
    soonest = NEXT_DATE.asc().nulls_last()
    if sort == "priority":
        return [SEVERITY_ORDER, soonest, Task.id]
    return [soonest, SEVERITY_ORDER, Task.id]


def accounts_in_band(band: str, today: dt.date) -> Select:
    """Ids of accounts whose band in force is `band`: an override in force, else the band of
    the latest scoring day (the band the risk list shows)."""
    override = active_overrides(today)
    latest_day = select(func.max(HealthScore.scored_on)).scalar_subquery()
    latest = (HealthScore.account_id == Account.id) & (HealthScore.scored_on == latest_day)
    return (
        select(Account.id)
        .outerjoin(HealthScore, latest)
        .outerjoin(override, override.c.account_id == Account.id)
        .where(func.coalesce(override.c.band, HealthScore.band) == band)
    )


@dataclass
class BulkResult:
    """What a bulk change did, for the flash message."""

    changed: int = 0
    forbidden: int = 0  # the user may not change these
    done: int = 0  # already done: nothing to change
    missing: int = 0  # deleted meanwhile, or never existed

    def skipped_note(self) -> str:
        """'; skipped 3: 2 you may not change, 1 already done', or '' when none was skipped."""
        counts = {
            "you may not change": self.forbidden,
            "already done": self.done,
            "not found": self.missing,
        }
        reasons = [f"{count} {why}" for why, count in counts.items() if count]
        total = self.forbidden + self.done + self.missing
        return f"; skipped {total}: {', '.join(reasons)}" if total else ""


def bulk_change(user: User, task_ids: list[int], change: Callable[[Task], None]) -> BulkResult:
    """Apply a single-task action (`change`) to each task `user` may edit, so each is checked
    and logged as one by one; the caller commits them as one transaction."""
    ids = set(task_ids)
    tasks = db.session.scalars(
        select(Task).where(Task.id.in_(ids)).options(selectinload(Task.account)).order_by(Task.id)
    ).all()
    result = BulkResult(missing=len(ids) - len(tasks))
    for task in tasks:
        if not can_edit_task(user, task):
            result.forbidden += 1
        elif task.status == "done":
            result.done += 1
        else:
            change(task)
            result.changed += 1
    return result


def renewal_reason(renewal: dt.date) -> str:
    """The de-duplication reason of a renewal's prep task: one task per renewal date, so the
    next year's renewal opens a new one."""
    return f"renewal-{renewal.isoformat()}"


def open_renewal_tasks(today: dt.date, window_days: int = RENEWAL_TASK_DAYS) -> list[Task]:
    """Open one prep task per live account renewing within `window_days`, once per renewal
    (a task done or still open for that renewal date counts), due `RENEWAL_DUE_DAYS` before
    the renewal or today when that has passed. Three statements, whatever the book's size."""
    renewing = select(Account).where(
        Account.churned_at.is_(None),
        Account.renewal_date >= today,
        Account.renewal_date <= today + dt.timedelta(days=window_days),
    )
    opened = {
        (account_id, reason)
        for account_id, reason in db.session.execute(
            select(Task.account_id, Task.reason).where(
                Task.kind == "renewal",
                Task.account_id.in_(renewing.with_only_columns(Account.id)),
            )
        )
    }
    due_lead = dt.timedelta(days=RENEWAL_DUE_DAYS)
    tasks = []
    for account in db.session.scalars(renewing):
        renewal = account.renewal_date
        assert renewal is not None  # `renewing` holds renewal dates in the window only
        if (account.id, renewal_reason(renewal)) not in opened:
            tasks.append(_renewal_task(account, renewal, max(renewal - due_lead, today)))
    db.session.add_all(tasks)
    db.session.flush()
    publish_events(
        "task.created", [task_data(task) for task in tasks], [f"msg_task_{t.id}" for t in tasks]
    )
    return tasks


def _renewal_task(account: Account, renewal: dt.date, due: dt.date) -> Task:
    return Task(
        account_id=account.id,
        kind="renewal",
        severity="high" if account.segment == "enterprise" else "medium",
        owner_id=account.owner_id,
        title=f"Renewal on {renewal:%d %b %Y}: confirm the decision maker and send the proposal",
        reason=renewal_reason(renewal),
        details="Prepare a value summary (usage, outcomes) before the call.",
        due_date=due,
    )
