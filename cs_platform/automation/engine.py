"""Running the rules: which accounts each one starts matching, its steps for them, its waits.

One run (`run_rules`, the scheduler's job on its one leader) goes rule by rule. For each rule it
finds the accounts its trigger and conditions newly hold for (`RuleMatch` keeps who matched at
the last run, so a rule acts once per episode, not at every run), walks its steps for them set-
wise, and writes the matches, the actions (tasks, outbox rows for alerts and webhooks, fields,
traits, list members), the waits and the run log in ONE transaction: a crash before the commit
leaves nothing, so the next run does it all once; after it, nothing is done again. Then the
waits that are due go on the same way, with the version that started them.

A rule about to act on more accounts than its limit (a share of the live book, or what an
admin confirmed) acts on none: it is paused with the reason, for an admin to look at.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, not_, select

from cs_platform import bulk_writes
from cs_platform.automation import definition as rules
from cs_platform.automation.actions import ACTIONS, Firing, chunks
from cs_platform.automation.matching import (
    USAGE_TRIGGERS,
    Moment,
    condition_clauses,
    live_accounts,
    matching,
    refresh_run_tables,
)
from cs_platform.automation.models import Rule, RuleMatch, RuleRun, RuleVersion, RuleWait
from cs_platform.bulk_writes import in_values
from cs_platform.extensions import db
from cs_platform.models import Account, TimelineEntry

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What one run did, rule by rule: accounts acted on, waits resumed, rules paused."""

    fired: dict[str, int] = field(default_factory=dict)
    resumed: int = 0
    paused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass
class Walk:
    """The steps walked for a set of accounts, and what they did to each, for the log."""

    firing: Firing
    steps: list[dict[str, Any]]
    moment: Moment  # the run's: branch conditions read its days (and its bands table)
    done: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))

    def run(self, account_ids: Sequence[int], path: rules.StepPath) -> None:
        """Walk the steps from `path` for the accounts: act, wait (stop here) or branch."""
        queue: list[tuple[Sequence[int], rules.StepPath | None]] = [
            (account_ids, rules.next_path(self.steps, path))
        ]
        while queue:
            ids, at = queue.pop(0)
            if at is None or not ids:
                continue
            step = rules.step_at(self.steps, at)
            if "action" in step:
                self.firing.load(ids)
                self.firing.step_path = rules.path_text(at)
                for account_id, what in ACTIONS[step["action"]](self.firing, ids, step).items():
                    self.done[account_id].append(what)
                queue.append((ids, rules.next_path(self.steps, rules.advance(at))))
            elif "wait_days" in step:
                self._wait(ids, at, step["wait_days"])
            else:
                held = self._holding(ids, step["if"])
                held_ids = [i for i in ids if i in held]
                other_ids = [i for i in ids if i not in held]
                self._note(held_ids, "condition held")
                self._note(other_ids, "condition did not hold")
                queue.append((held_ids, rules.next_path(self.steps, (*at, "then", 0))))
                queue.append((other_ids, rules.next_path(self.steps, (*at, "else", 0))))

    def _wait(self, ids: Sequence[int], at: rules.StepPath, days: int) -> None:
        then = rules.next_path(self.steps, rules.advance(at))
        if then is None:
            return
        due = self.firing.now + dt.timedelta(days=days)
        rows = [
            {
                "rule_id": self.firing.rule_id,
                "version": self.firing.version,
                "account_id": account_id,
                "path": rules.path_text(then),
                "due_at": due,
                "created_at": self.firing.now,
            }
            for account_id in ids
        ]
        bulk_writes.insert_ignoring_conflicts(
            RuleWait.__table__, rows, ["rule_id", "account_id", "path"]
        )
        self._note(ids, f"waiting {days} days (until {due:%Y-%m-%d})")

    def _holding(self, ids: Sequence[int], conditions: list[Mapping[str, Any]]) -> set[int]:
        clauses = condition_clauses(conditions, self.moment, self.firing.rule_id)
        held: set[int] = set()
        for chunk in chunks(ids):
            held.update(
                db.session.scalars(select(Account.id).where(in_values(Account.id, chunk), *clauses))
            )
        return held

    def _note(self, ids: Sequence[int], what: str) -> None:
        for account_id in ids:
            self.done[account_id].append(what)

    def write_log(self, reasons: Mapping[int, str]) -> None:
        """A run row and a timeline entry per account (set-wise)."""
        if not reasons:
            return
        firing = self.firing
        runs: list[dict[str, Any]] = [
            {
                "rule_id": firing.rule_id,
                "version": firing.version,
                "account_id": account_id,
                "ran_at": firing.now,
                "reason": reason[:500],
                "actions": self.done.get(account_id, []),
            }
            for account_id, reason in reasons.items()
        ]
        bulk_writes.insert_ignoring_conflicts(RuleRun.__table__, runs, ["id"])
        timeline = [
            {
                "account_id": run["account_id"],
                "kind": "automation",
                "body": f"Rule “{firing.rule_name}”: {run['reason']}. "
                + ("; ".join(run["actions"]) or "nothing to do")
                + ".",
                "created_at": firing.now,
            }
            for run in runs
        ]
        bulk_writes.insert_ignoring_conflicts(TimelineEntry.__table__, timeline, ["id"])


def run_rules(now: Any = None) -> RunSummary:
    """One run of every enabled rule, then the due waits; a commit per rule."""
    moment = Moment.read(now)
    summary = RunSummary()
    book = book_size()
    enabled = db.session.scalars(
        select(Rule).where(Rule.enabled, Rule.paused_reason.is_(None)).order_by(Rule.id)
    ).all()
    if enabled:
        usage = any(rule.definition["trigger"]["type"] in USAGE_TRIGGERS for rule in enabled)
        moment = refresh_run_tables(moment, usage)
        db.session.commit()
    for rule in enabled:
        _guarded(rule.name, summary, lambda rule=rule: _run_rule(rule, moment, book, summary))
    due = db.session.execute(
        select(RuleWait.rule_id, RuleWait.version, RuleWait.path)
        .where(RuleWait.due_at <= moment.now)
        .group_by(RuleWait.rule_id, RuleWait.version, RuleWait.path)
    ).all()
    for rule_id, version, path in due:
        _guarded(
            f"rule {rule_id}",
            summary,
            lambda r=rule_id, v=version, p=path: _resume(r, v, p, moment, summary),
        )
    return summary


def _guarded(name: str, summary: RunSummary, work: Any) -> None:
    """Run one rule's work and commit it, or roll it all back and go on with the next."""
    try:
        work()
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("automation rule failed", extra={"rule": name})
        summary.failed.append(name)


def _run_rule(rule: Rule, moment: Moment, book: int, summary: RunSummary) -> None:
    """Match the rule once, then act on the accounts it newly matches."""
    details = {
        row[0]: row[1] for row in db.session.execute(matching(rule.definition, moment, rule.id))
    }
    known = set(
        db.session.scalars(select(RuleMatch.account_id).where(RuleMatch.rule_id == rule.id))
    )
    gone = sorted(known - details.keys())
    for chunk in chunks(gone):
        db.session.execute(
            delete(RuleMatch).where(
                RuleMatch.rule_id == rule.id, in_values(RuleMatch.account_id, chunk)
            )
        )
    new = sorted(details.keys() - known)
    rule.last_run_at = moment.now
    limit = action_limit(rule, book)
    if len(new) > limit:
        rule.paused_reason = (
            f"Paused on {moment.now:%Y-%m-%d %H:%M} UTC: it would have acted on {len(new):,} "
            f"accounts at once (limit {limit:,}). Dry-run it, then confirm to resume."
        )
        summary.paused.append(rule.name)
        return
    if not new:
        return
    rows = [
        {"rule_id": rule.id, "account_id": account_id, "since": moment.now} for account_id in new
    ]
    bulk_writes.insert_ignoring_conflicts(RuleMatch.__table__, rows, ["rule_id", "account_id"])
    firing = _firing(rule.id, rule.version, rule.name, moment)
    trigger = rule.definition["trigger"]
    firing.reasons = {account_id: reason(trigger, details[account_id]) for account_id in new}
    walk = Walk(firing, rule.definition["steps"], moment)
    walk.run(new, (0,))
    walk.write_log(firing.reasons)
    summary.fired[rule.name] = len(new)


def _resume(rule_id: int, version: int, path: str, moment: Moment, summary: RunSummary) -> None:
    """Go on with the steps after a wait for the accounts whose wait is over."""
    saved = db.session.execute(
        select(RuleVersion.definition, RuleVersion.name, Rule.enabled)
        .join(Rule, Rule.id == RuleVersion.rule_id)
        .where(RuleVersion.rule_id == rule_id, RuleVersion.version == version)
    ).one_or_none()
    due = (
        RuleWait.rule_id == rule_id,
        RuleWait.version == version,
        RuleWait.path == path,
        RuleWait.due_at <= moment.now,
    )
    ids = list(db.session.scalars(select(RuleWait.account_id).where(*due)))
    db.session.execute(delete(RuleWait).where(*due))
    if saved is None or not saved.enabled:
        return  # the rule was deleted or switched off: its waits end with it
    walk = Walk(_firing(rule_id, version, saved.name, moment), saved.definition["steps"], moment)
    live = set(
        db.session.scalars(select(Account.id).where(in_values(Account.id, ids), live_accounts()))
    )
    walk.run([i for i in ids if i in live], rules.parse_path(path))
    walk.write_log(dict.fromkeys(live, "went on after its wait"))
    summary.resumed += len(live)


def _firing(rule_id: int, version: int, name: str, moment: Moment) -> Firing:
    return Firing(rule_id, version, name, moment.now, moment.today)


def book_size() -> int:
    """How many live accounts there are (what the share limit is a share of)."""
    return db.session.scalar(select(func.count()).select_from(Account).where(live_accounts())) or 0


def unconfirmed_limit(book: int) -> int:
    """How many accounts a rule may act on at once without a confirmation: a share of the live
    book (AUTOMATION_CONFIRM_PERCENT), at least one."""
    return max(math.floor(book * current_app.config["AUTOMATION_CONFIRM_PERCENT"] / 100), 1)


def action_limit(rule: Rule, book: int) -> int:
    """How many accounts one run of the rule may act on: the unconfirmed limit, or more if an
    admin confirmed more when saving it."""
    return max(unconfirmed_limit(book), rule.confirmed_accounts or 0)


def reason(trigger: Mapping[str, Any], detail: Any) -> str:
    """Why the rule fired on an account, in words, with the figure its trigger read."""
    kind = trigger["type"]
    texts = {
        "band_entered": lambda: f"entered the {trigger['band']} band (score {_number(detail)})",
        "band_left": lambda: f"left the {trigger['band']} band (score {_number(detail)})",
        "score_drop": lambda: f"score dropped {_number(detail)} points in {trigger['days']} days",
        "churn_risk_above": lambda: (
            f"P(churn before renewal) {_percent(detail)} "
            f"is above {_percent(trigger['probability'])}"
        ),
        "usage_drop": lambda: f"usage changed {_number(detail)} % week over week",
        "seat_utilisation": lambda: (
            f"seat utilisation {_percent(detail)} "
            f"is {trigger['direction']} {_percent(trigger['share'])}"
        ),
        "survey_answer": lambda: f"a {trigger['category']} answer (score {_number(detail)})",
        "ticket_backlog": lambda: f"{_number(detail)} open tickets (more than {trigger['count']})",
        "renewal_within": lambda: f"renews on {detail} (within {trigger['days']} days)",
        "trait_changed": lambda: f"trait {trigger['key']} changed",
    }
    return texts[kind]()


def _number(value: Any) -> str:
    return "?" if value is None else f"{float(value):.0f}"


def _percent(value: Any) -> str:
    return "?" if value is None else f"{float(value):.0%}"


def dry_run(
    definition: Mapping[str, Any], rule_id: int | None = None, limit: int = 200
) -> tuple[int, list[tuple[int, str, str]]]:
    """How many accounts the definition would act on now, and the first `limit` of them as
    (id, name, reason): those matching that the rule (if saved) has not acted on yet."""
    moment = Moment.read()
    matched = matching(definition, moment, rule_id).subquery("matched")
    query = select(matched.c.id, Account.name, matched.c.detail).join(
        Account, Account.id == matched.c.id
    )
    if rule_id is not None:
        known = select(RuleMatch.account_id).where(RuleMatch.rule_id == rule_id)
        query = query.where(not_(matched.c.id.in_(known)))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.execute(query.order_by(Account.name).limit(limit)).all()
    return total, [(row[0], row[1], reason(definition["trigger"], row[2])) for row in rows]
