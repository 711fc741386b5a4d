"""What a rule's steps do, each to a set of accounts at once.

Every action takes the firing (which rule, which version, when) and the ids of the accounts it
acts on, makes its writes set-wise in the session (tasks, outbox rows, account fields, traits,
list members; the engine commits them with the rule's match and run log in one transaction),
and returns what it did per account, in words, for the run log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import aliased

from cs_platform import bulk_writes
from cs_platform.accounts.traits import COLUMNS, TraitWriter
from cs_platform.alerts.notify import Alert, enqueue_alerts
from cs_platform.extensions import db
from cs_platform.models import Account, AccountList, AccountListMember, AccountTrait, Task, User
from cs_platform.tasks.models import Playbook, TaskStep
from cs_platform.webhooks.events import publish_events, task_data

CHUNK = 5_000
Done = dict[int, str]  # account id -> what the action did to it


@dataclass(frozen=True)
class AccountFacts:
    name: str
    owner_id: int | None
    owner_name: str | None
    team_lead_id: int | None
    team_lead_name: str | None


@dataclass
class Firing:
    """One rule acting at one moment: the facts of the accounts it touches, read once."""

    rule_id: int
    version: int
    rule_name: str
    now: dt.datetime
    today: dt.date
    facts: dict[int, AccountFacts] = field(default_factory=dict)
    step_path: str = "0"  # the step acting now (the walk sets it)
    reasons: dict[int, str] = field(default_factory=dict)  # why it acts on each account

    @property
    def actor(self) -> str:
        return f"rule: {self.rule_name}"[:200]

    def load(self, account_ids: Sequence[int]) -> None:
        """Read name, owner and the owner's team lead of the accounts not read yet."""
        owner, lead = aliased(User), aliased(User)
        wanted = [account_id for account_id in account_ids if account_id not in self.facts]
        for chunk in chunks(wanted):
            rows = db.session.execute(
                select(Account.id, Account.name, owner.id, owner.name, lead.id, lead.name)
                .outerjoin(owner, owner.id == Account.owner_id)
                .outerjoin(lead, lead.id == owner.team_lead_id)
                .where(bulk_writes.in_values(Account.id, chunk))
            )
            self.facts.update({row[0]: AccountFacts(*row[1:]) for row in rows})

    def key(self, account_id: int, what: str) -> str:
        """A de-duplication key of one thing this firing does to one account."""
        return f"rule:{self.rule_id}:{account_id}:{self.now:%Y%m%dT%H%M%S%f}:{what}"

    def recipient(self, account_id: int, who: str) -> int | None:
        """The user `who` ("owner", "team_lead" or "user:<id>") names for the account."""
        facts = self.facts[account_id]
        if who == "owner":
            return facts.owner_id
        if who == "team_lead":
            return facts.team_lead_id
        return int(who.removeprefix("user:"))

    def recipient_name(self, account_id: int, who: str) -> str:
        """Who `who` is for the account, in words: a name, or "user 7"."""
        facts = self.facts[account_id]
        names = {"owner": facts.owner_name, "team_lead": facts.team_lead_name}
        return names.get(who) or f"user {self.recipient(account_id, who)}"


def chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]


def open_task(firing: Firing, account_ids: Sequence[int], step: Mapping[str, Any]) -> Done:
    """One task per account (none where this rule's task is still open), with the playbook's
    steps, for the assignee; announced as task.created like every task."""
    reason = f"rule-{firing.rule_id}-step-{firing.step_path}"
    open_already: set[int] = set()
    for chunk in chunks(account_ids):
        open_already.update(
            db.session.scalars(
                select(Task.account_id).where(
                    Task.kind == "rule",
                    Task.reason == reason,
                    Task.status != "done",
                    bulk_writes.in_values(Task.account_id, chunk),
                )
            )
        )
    due = firing.today + dt.timedelta(days=step["due_in_days"])
    rows = [
        {
            "account_id": account_id,
            "kind": "rule",
            "severity": step["severity"],
            "owner_id": firing.recipient(account_id, step["assignee"]),
            "title": step["title"],
            "reason": reason,
            "details": step["details"] or f"Opened by the rule “{firing.rule_name}”.",
            "due_date": due,
            "status": "open",
            "created_at": firing.now,
        }
        for account_id in account_ids
        if account_id not in open_already
    ]
    tasks = _inserted_tasks(rows)
    _add_playbook_steps(tasks, step.get("playbook"))
    publish_events(
        "task.created", [task_data(task) for task in tasks], [f"msg_task_{t.id}" for t in tasks]
    )
    done = dict.fromkeys(open_already, f"task “{step['title']}” already open")
    done.update(
        {task.account_id: f"opened task “{task.title}” due {due.isoformat()}" for task in tasks}
    )
    return done


def _inserted_tasks(rows: list[dict[str, Any]]) -> list[Task]:
    """Insert the tasks set-wise; detached Task objects with their ids, for their events."""
    if not rows:
        return []
    inserted = bulk_writes.insert_ignoring_conflicts(
        Task.__table__, rows, ["id"], returning=["id", "account_id"]
    )
    ids = {account_id: task_id for task_id, account_id in inserted}
    return [Task(id=ids[row["account_id"]], **row) for row in rows]


def _add_playbook_steps(tasks: list[Task], playbook_name: str | None) -> None:
    if not playbook_name or not tasks:
        return
    playbook = db.session.scalar(select(Playbook).where(Playbook.name == playbook_name))
    if playbook is None:
        return
    rows = [
        {"task_id": task.id, "playbook_id": playbook.id, "position": position, "title": title}
        for task in tasks
        for position, title in enumerate(playbook.steps)
    ]
    bulk_writes.insert_ignoring_conflicts(TaskStep.__table__, rows, ["id"])


def notify(firing: Firing, account_ids: Sequence[int], step: Mapping[str, Any]) -> Done:
    """An alert to each account's recipient through their channels (or the step's)."""
    channels = tuple(step["channels"]) or None
    alerts, done = [], {}
    for account_id in account_ids:
        user_id = firing.recipient(account_id, step["recipients"])
        if user_id is None:
            done[account_id] = f"nobody to notify ({step['recipients'].replace('_', ' ')} unset)"
            continue
        key = firing.key(account_id, step["recipients"])
        why = firing.reasons.get(account_id, "")
        text = f"{step['message']}: {why} (rule “{firing.rule_name}”)" if why else step["message"]
        facts = firing.facts[account_id]
        alerts.append(Alert(user_id, step["kind"], account_id, facts.name, text, key, channels))
        done[account_id] = f"notified {firing.recipient_name(account_id, step['recipients'])}"
    enqueue_alerts(alerts)
    return done


def call_webhooks(firing: Firing, account_ids: Sequence[int], step: Mapping[str, Any]) -> Done:
    """An automation.rule_fired event per account to every endpoint subscribed to it."""
    items = [
        {
            "rule_id": firing.rule_id,
            "rule": firing.rule_name,
            "version": firing.version,
            "account_id": account_id,
            "account": firing.facts[account_id].name,
        }
        for account_id in account_ids
    ]
    ids = [f"msg_{firing.key(account_id, 'webhook')}" for account_id in account_ids]
    publish_events("automation.rule_fired", items, ids)
    return dict.fromkeys(account_ids, "sent automation.rule_fired to the webhooks")


def set_field(firing: Firing, account_ids: Sequence[int], step: Mapping[str, Any]) -> Done:
    column = {"lifecycle_stage": Account.lifecycle_stage, "owner": Account.owner_id}[step["field"]]
    for chunk in chunks(account_ids):
        db.session.execute(
            update(Account)
            .where(bulk_writes.in_values(Account.id, chunk))
            .values({column: step["value"], Account.updated_at: firing.now})
            .execution_options(synchronize_session=False)
        )
    label = step["field"].replace("_", " ")
    return dict.fromkeys(account_ids, f"set {label} to {step['value']}")


def set_trait(firing: Firing, account_ids: Sequence[int], step: Mapping[str, Any]) -> Done:
    """The trait's value on every account (the trait is defined on first use, as by the API)."""
    writer = TraitWriter()
    value = writer.prepare({step["key"]: step["value"]})[step["key"]]
    writer.define_undefined()
    db.session.flush()
    column = COLUMNS[writer.definitions[step["key"]].type]
    rows = [
        {"account_id": account_id, "key": step["key"], column: value, "updated_at": firing.now}
        for account_id in account_ids
    ]
    bulk_writes.upsert(AccountTrait.__table__, rows, ["account_id", "key"], [column, "updated_at"])
    return dict.fromkeys(account_ids, f"set trait {step['key']} to {step['value']}")


def add_to_list(firing: Firing, account_ids: Sequence[int], step: Mapping[str, Any]) -> Done:
    """Onto the named list (made on first use); an account already on it stays as it was."""
    account_list = db.session.scalar(select(AccountList).where(AccountList.name == step["list"]))
    if account_list is None:
        account_list = AccountList(
            name=step["list"], description=f"Made by the rule “{firing.rule_name}”."
        )
        db.session.add(account_list)
        db.session.flush()
    rows = [
        {
            "list_id": account_list.id,
            "account_id": account_id,
            "added_by": firing.actor,
            "added_at": firing.now,
        }
        for account_id in account_ids
    ]
    bulk_writes.insert_ignoring_conflicts(
        AccountListMember.__table__, rows, ["list_id", "account_id"]
    )
    return dict.fromkeys(account_ids, f"added to the list “{step['list']}”")


ACTIONS: dict[str, Callable[[Firing, Sequence[int], Mapping[str, Any]], Done]] = {
    "open_task": open_task,
    "notify": notify,
    "webhook": call_webhooks,
    "set_field": set_field,
    "set_trait": set_trait,
    "add_to_list": add_to_list,
}
