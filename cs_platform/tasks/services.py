"""Working tasks: who may act on them, snooze, complete, assign, manual tasks, playbooks.

Services flush; the request or job that calls them commits.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import selectinload

from cs_platform.accounts.services import can_edit_account
from cs_platform.extensions import db
from cs_platform.models import Account, Task, TimelineEntry, User, utcnow
from cs_platform.tasks.models import Playbook, TaskStep
from cs_platform.webhooks.events import publish_task_created

SEVERITY_ORDER = case({"high": 0, "medium": 1, "low": 2}, value=Task.severity)
TASK_PAGE_LIMIT = 200
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
    """Whoever may edit the account, and a CSM the task is assigned to."""
    if can_edit_account(user, task.account):
        return True
    return user.is_authenticated and user.role == "csm" and task.owner_id == user.id


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
    query = (
        select(TaskStep)
        .where(TaskStep.task_id.in_(task_ids))
        .order_by(TaskStep.task_id, TaskStep.position)
    )
    for step in db.session.scalars(query):
        result[step.task_id].append(step)
    return result


def my_tasks(user: User, scope: str = "mine", limit: int = TASK_PAGE_LIMIT) -> list[Task]:
    """Tasks not done, soonest due first: assigned to `user` (or on their accounts when
    unassigned), or everyone's when scope is "team"; at most `limit`."""
    query = (
        select(Task)
        .join(Account, Account.id == Task.account_id)
        .where(Task.status != "done")
        .options(selectinload(Task.account), selectinload(Task.owner))
        .order_by(Task.due_date.asc().nulls_last(), SEVERITY_ORDER, Task.id)
        .limit(limit)
    )
    if scope != "team":
        mine = or_(
            Task.owner_id == user.id, (Task.owner_id.is_(None)) & (Account.owner_id == user.id)
        )
        query = query.where(mine)
    return list(db.session.scalars(query))


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
    return result.rowcount or 0
