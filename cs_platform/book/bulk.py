"""Bulk work on a selection of the risk list: assign an owner, apply a playbook, snooze the risk
tasks, put on (or take off) an account list.

Each action is a few set-wise statements whatever the selection's size (an UPDATE or an
INSERT ... SELECT over the accounts the user may edit, its timeline entries written by one
INSERT ... SELECT), never an ORM write per account. Accounts the user may not edit are skipped
and counted. Services flush; the request commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)

from cs_platform import clock
from cs_platform.accounts.risk import FLAG_TASK_KINDS
from cs_platform.accounts.services import editable_accounts
from cs_platform.audit import record_audit
from cs_platform.extensions import db, rowcount
from cs_platform.models import (
    Account,
    AccountList,
    AccountListMember,
    Task,
    TimelineEntry,
    User,
)
from cs_platform.tasks.models import Playbook, TaskStep
from cs_platform.webhooks.events import publish_events, task_data

OWNER_ROLES = ("admin", "team_lead", "csm")
NOT_YOURS = "you may not change"


class BulkError(Exception):
    """A bulk action that cannot run at all; the message is shown to the user."""


@dataclass
class BulkOutcome:
    """How many accounts an action changed, and how many it skipped, by reason."""

    changed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, count: int) -> None:
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count

    def skipped_note(self) -> str:
        """'; skipped 3: 2 you may not change, 1 not found', or '' when none was skipped."""
        if not self.skipped:
            return ""
        reasons = ", ".join(f"{count} {why}" for why, count in self.skipped.items())
        return f"; skipped {sum(self.skipped.values())}: {reasons}"


def accounts_count(count: int) -> str:
    return f"{count} account" if count == 1 else f"{count} accounts"


def editable_selection(user: User, account_ids: list[int]) -> tuple[list[int], BulkOutcome]:
    """The selected accounts `user` may edit (two statements), and an outcome counting the
    others as forbidden or not found."""
    ids = set(account_ids)
    found = set(db.session.scalars(select(Account.id).where(Account.id.in_(ids))))
    editable = sorted(
        db.session.scalars(select(Account.id).where(Account.id.in_(found), editable_accounts(user)))
    )
    outcome = BulkOutcome()
    outcome.skip(NOT_YOURS, len(found) - len(editable))
    outcome.skip("not found", len(ids) - len(found))
    return editable, outcome


def _log_on_accounts(where: ColumnElement[bool], author: User, kind: str, body) -> None:
    """One timeline entry on each account matching `where`, in one INSERT ... SELECT."""
    rows = select(
        Account.id, literal(author.id), literal(kind), body, literal(clock.utcnow())
    ).where(where)
    columns = ["account_id", "author_id", "kind", "body", "created_at"]
    db.session.execute(insert(TimelineEntry).from_select(columns, rows))


def assign_owner(user: User, account_ids: list[int], owner: User) -> BulkOutcome:
    """Make `owner` (an active admin, team lead or CSM) the owner of the selected accounts the
    user may edit; a timeline entry on each and one audit entry for the whole change. Their open
    tasks keep their assignees."""
    if not owner.active or owner.role not in OWNER_ROLES:
        raise BulkError(f"{owner.name} cannot own accounts (only active CSMs, leads and admins).")
    editable, outcome = editable_selection(user, account_ids)
    moving = and_(Account.id.in_(editable), Account.owner_id.is_distinct_from(owner.id))
    _log_on_accounts(moving, user, "note", literal(f"Owner changed to {owner.name} (bulk)"))
    result = db.session.execute(
        update(Account)
        .where(moving)
        .values(owner_id=owner.id, updated_at=clock.utcnow())
        .execution_options(synchronize_session=False)
    )
    outcome.changed = rowcount(result)
    outcome.skip(f"already {owner.name}'s", len(editable) - outcome.changed)
    if outcome.changed:
        details = {"owner": owner.name, "accounts": editable, "changed": outcome.changed}
        record_audit("accounts.owner_changed", f"user:{owner.id}", details, user)
    db.session.flush()
    return outcome


def snooze_risk_tasks(
    user: User, account_ids: list[int], until: dt.date, reason: str
) -> BulkOutcome:
    """Snooze the open risk tasks (churn risk, health drop) of the selected accounts the user may
    edit until `until`, with `reason`; `changed` counts the accounts, each task logged."""
    editable, outcome = editable_selection(user, account_ids)
    open_risk = and_(
        Task.account_id.in_(editable), Task.status == "open", Task.kind.in_(FLAG_TASK_KINDS)
    )
    accounts = set(db.session.scalars(select(Task.account_id).where(open_risk).distinct()))
    body = literal("Snoozed “") + Task.title + literal(f"” until {until.isoformat()}: {reason}")
    rows = select(
        Task.account_id, literal(user.id), literal("task"), body, literal(clock.utcnow())
    ).where(open_risk)
    columns = ["account_id", "author_id", "kind", "body", "created_at"]
    db.session.execute(insert(TimelineEntry).from_select(columns, rows))
    db.session.execute(
        update(Task)
        .where(open_risk)
        .values(status="snoozed", snoozed_until=until, snooze_reason=reason)
        .execution_options(synchronize_session=False)
    )
    outcome.changed = len(accounts)
    outcome.skip("without an open risk task", len(editable) - len(accounts))
    db.session.flush()
    return outcome


def playbook_task_kind(playbook: Playbook) -> str:
    """The kind of task a playbook goes on: the kind it suits, else a manual task."""
    return playbook.task_kind or "manual"


def _target_tasks(kind: str, playbook: Playbook, account_ids: list[int]) -> ColumnElement[bool]:
    """Open (or snoozed) tasks a playbook goes on: of its kind; for a kind-less playbook, the
    manual task it opened before."""
    condition = and_(Task.account_id.in_(account_ids), Task.status != "done", Task.kind == kind)
    if playbook.task_kind is None:
        condition = and_(condition, Task.reason == f"playbook-{playbook.id}")
    return condition


def apply_playbook(user: User, account_ids: list[int], playbook: Playbook) -> BulkOutcome:
    """Put `playbook`'s steps on each selected account the user may edit: on its open task of
    the playbook's kind (the oldest, when several), or on a new task of that kind (owned by the
    account's owner, titled as the playbook) when it has none; an account whose task already has
    the playbook is skipped. Statements: the new tasks, then every step, then the timeline."""
    editable, outcome = editable_selection(user, account_ids)
    kind = playbook_task_kind(playbook)
    had_task = set(
        db.session.scalars(select(Task.account_id).where(_target_tasks(kind, playbook, editable)))
    )
    created = _open_playbook_tasks(playbook, kind, [i for i in editable if i not in had_task])
    targets = (
        select(func.min(Task.id).label("task_id"), Task.account_id)
        .where(_target_tasks(kind, playbook, editable))
        .group_by(Task.account_id)
        .subquery("targets")
    )
    has_playbook = exists().where(
        TaskStep.task_id == targets.c.task_id, TaskStep.playbook_id == playbook.id
    )
    fresh = select(targets.c.task_id, targets.c.account_id).where(~has_playbook).subquery("fresh")
    task_ids = [task_id for task_id, _ in db.session.execute(select(fresh))]
    _add_steps(playbook, fresh)
    if task_ids:
        body = literal(f"Playbook “{playbook.name}” applied (bulk)")
        _log_on_accounts(Account.id.in_(select(fresh.c.account_id)), user, "task", body)
    outcome.changed = len(task_ids)
    outcome.skip("already on the playbook", len(editable) - len(task_ids))
    publish_events(
        "task.created", [task_data(task) for task in created], [f"msg_task_{t.id}" for t in created]
    )
    db.session.flush()
    return outcome


def _open_playbook_tasks(playbook: Playbook, kind: str, account_ids: list[int]) -> list[Task]:
    """A new task of `kind` on each of the accounts (one INSERT ... SELECT), returned."""
    if not account_ids:
        return []
    reason = f"playbook-{playbook.id}"
    columns = ["account_id", "kind", "severity", "owner_id", "title", "reason", "details"]
    columns += ["status", "created_at"]
    rows = select(
        Account.id,
        literal(kind),
        literal("medium"),
        Account.owner_id,
        literal(playbook.name[:200]),
        literal(reason),
        literal(playbook.description or ""),
        literal("open"),
        literal(clock.utcnow()),
    ).where(Account.id.in_(account_ids))
    db.session.execute(insert(Task).from_select(columns, rows))
    new = select(Task).where(
        Task.account_id.in_(account_ids), Task.reason == reason, Task.status != "done"
    )
    return list(db.session.scalars(new))


def _add_steps(playbook: Playbook, tasks) -> None:
    """The playbook's steps after each task's own, for every task of the subquery `tasks`."""
    if not playbook.steps:
        return
    steps = union_all(
        *(
            select(literal(index).label("offset"), literal(title[:300]).label("title"))
            for index, title in enumerate(playbook.steps)
        )
    ).subquery("steps")
    last = (
        select(TaskStep.task_id, func.max(TaskStep.position).label("last"))
        .group_by(TaskStep.task_id)
        .subquery("last_step")
    )
    start = func.coalesce(last.c.last + 1, 0)
    rows = (
        select(tasks.c.task_id, literal(playbook.id), start + steps.c.offset, steps.c.title)
        .select_from(tasks)
        .join(steps, literal(True))
        .outerjoin(last, last.c.task_id == tasks.c.task_id)
    )
    columns = ["task_id", "playbook_id", "position", "title"]
    db.session.execute(insert(TaskStep).from_select(columns, rows))


def list_for(list_id: int | None, new_name: str, user: User) -> AccountList:
    """The chosen account list, or a new one named `new_name` (an existing name is reused)."""
    name = new_name.strip()
    if name:
        found = db.session.scalar(select(AccountList).where(AccountList.name == name))
        if found is not None:
            return found
        account_list = AccountList(name=name[:120], created_by_id=user.id)
        db.session.add(account_list)
        record_audit("account_list.created", name, {}, user)
        db.session.flush()
        return account_list
    chosen = db.session.get(AccountList, list_id) if list_id else None
    if chosen is None:
        raise BulkError("Pick a list, or type the name of a new one.")
    return chosen


def add_to_list(user: User, account_ids: list[int], account_list: AccountList) -> BulkOutcome:
    """Put the selected accounts the user may edit on `account_list` (one INSERT ... SELECT);
    those already on it are skipped."""
    editable, outcome = editable_selection(user, account_ids)
    on_list = exists().where(
        AccountListMember.list_id == account_list.id, AccountListMember.account_id == Account.id
    )
    rows = select(
        Account.id, literal(account_list.id), literal(user.name), literal(clock.utcnow())
    ).where(Account.id.in_(editable), ~on_list)
    columns = ["account_id", "list_id", "added_by", "added_at"]
    added = insert(AccountListMember).from_select(columns, rows)
    outcome.changed = len(db.session.execute(added.returning(AccountListMember.account_id)).all())
    outcome.skip("already on the list", len(editable) - outcome.changed)
    db.session.flush()
    return outcome


def remove_from_list(user: User, account_ids: list[int], account_list: AccountList) -> BulkOutcome:
    """Take the selected accounts the user may edit off `account_list` (one DELETE)."""
    editable, outcome = editable_selection(user, account_ids)
    result = db.session.execute(
        delete(AccountListMember)
        .where(
            AccountListMember.list_id == account_list.id,
            AccountListMember.account_id.in_(editable),
        )
        .execution_options(synchronize_session=False)
    )
    outcome.changed = rowcount(result)
    outcome.skip("not on the list", len(editable) - outcome.changed)
    db.session.flush()
    return outcome


def list_summaries() -> list[tuple[AccountList, int]]:
    """Every account list with how many accounts are on it (one statement)."""
    counts = (
        select(AccountListMember.list_id, func.count().label("members"))
        .group_by(AccountListMember.list_id)
        .subquery("members")
    )
    query = (
        select(AccountList, func.coalesce(counts.c.members, 0))
        .outerjoin(counts, counts.c.list_id == AccountList.id)
        .order_by(func.lower(AccountList.name))
    )
    return [(account_list, count) for account_list, count in db.session.execute(query)]


def list_members(list_id: int, limit: int, offset: int) -> tuple[list, int]:
    """One page of a list's accounts (id, name, owner's name, added by, added at) and the total."""
    owner = User.__table__.alias("owner")
    base = (
        select(
            Account.id,
            Account.name,
            owner.c.name.label("owner_name"),
            AccountListMember.added_by,
            AccountListMember.added_at,
        )
        .join(Account, Account.id == AccountListMember.account_id)
        .outerjoin(owner, owner.c.id == Account.owner_id)
        .where(AccountListMember.list_id == list_id)
    )
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    page = base.order_by(func.lower(Account.name), Account.id).limit(limit).offset(offset)
    return list(db.session.execute(page)), total
