"""Saving rules: each save checked, versioned and audited; switching rules on and off.

Services flush; the request or command that calls them commits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from cs_platform.audit import record_audit
from cs_platform.automation import definition as rules
from cs_platform.automation.engine import book_size, dry_run, unconfirmed_limit
from cs_platform.automation.models import Rule, RuleVersion
from cs_platform.extensions import db
from cs_platform.models import User


@dataclass(frozen=True)
class Confirmation:
    """A save that waits for an admin's "yes": the rule would act on `accounts` at once."""

    accounts: int
    book: int
    limit: int

    @property
    def message(self) -> str:
        share = self.accounts / self.book if self.book else 1
        return (
            f"This rule would act on {self.accounts:,} accounts today ({share:.0%} of the live "
            f"book; more than the {self.limit:,} a run may act on unconfirmed). Tick "
            "“I confirm” and save again to let it."
        )


def save_rule(
    rule: Rule | None,
    name: str,
    raw: Any,
    author: User | None,
    *,
    enabled: bool = True,
    confirmed: bool = False,
) -> Rule | Confirmation:
    """Check and save a new version of the rule (a new rule when `rule` is None). Raises
    DefinitionError naming each bad field, or a loop it would close; returns a Confirmation
    instead of saving when it would act on more than the share limit and `confirmed` is not set."""
    definition = rules.check(raw)
    name = name.strip()
    _check_name(rule, name)
    _check_loops(rule, name, definition, enabled)
    rule_id = rule.id if rule else None
    accounts, _ = dry_run(definition, rule_id, limit=0)
    book = book_size()
    limit = unconfirmed_limit(book)
    if enabled and accounts > limit and not confirmed:
        return Confirmation(accounts, book, limit)
    if rule is None:
        rule = Rule(name=name, definition=definition, version=0)
        db.session.add(rule)
    rule.name, rule.definition, rule.enabled = name, definition, enabled
    rule.version += 1
    rule.paused_reason = None
    rule.confirmed_accounts = math.ceil(accounts * 1.1) if accounts > limit else None
    db.session.flush()
    db.session.add(
        RuleVersion(
            rule_id=rule.id,
            version=rule.version,
            name=name,
            definition=definition,
            saved_by_id=author.id if author else None,
        )
    )
    record_audit(
        "automation.rule_saved",
        f"rule {rule.id}",
        {"name": name, "version": rule.version, "enabled": enabled, "acts_on_now": accounts},
        actor=author,
    )
    db.session.flush()
    return rule


def _check_name(rule: Rule | None, name: str) -> None:
    if not name or len(name) > 120:
        raise rules.DefinitionError({"name": "A name of 1 to 120 characters."})
    taken = db.session.scalar(select(Rule.id).where(Rule.name == name))
    if taken is not None and (rule is None or taken != rule.id):
        raise rules.DefinitionError({"name": f"A rule named “{name}” exists already."})


def _check_loops(rule: Rule | None, name: str, definition: dict[str, Any], enabled: bool) -> None:
    """Refuse a rule that would trigger itself, alone or through other enabled rules."""
    if not enabled:
        return
    others = db.session.execute(
        select(Rule.id, Rule.name, Rule.definition).where(Rule.enabled)
    ).all()
    definitions = {row.name: row.definition for row in others if rule is None or row.id != rule.id}
    definitions[name] = definition
    loops = [loop for loop in rules.trait_loops(definitions) if name in loop]
    if loops:
        chain = " → ".join([*loops[0], loops[0][0]])
        raise rules.DefinitionError(
            {
                "steps": "These rules would trigger each other forever, each setting a trait "
                f"the next watches: {chain}."
            }
        )


def set_enabled(rule: Rule, enabled: bool, author: User) -> None:
    rule.enabled = enabled
    if enabled:
        rule.paused_reason = None
    record_audit(
        "automation.rule_" + ("enabled" if enabled else "disabled"),
        f"rule {rule.id}",
        {"name": rule.name},
        actor=author,
    )
    db.session.flush()


EXAMPLE_RULES: dict[str, dict[str, Any]] = {
    "Enterprise account turns red": {
        "trigger": {"type": "band_entered", "band": "red"},
        "conditions": [{"field": "segment", "op": "in", "value": ["enterprise"]}],
        "steps": [
            {
                "action": "open_task",
                "title": "Call the executive sponsor",
                "playbook": "Churn-risk save plan",
                "due_in_days": 2,
                "severity": "high",
            },
            {"action": "notify", "message": "An enterprise account turned red"},
            {"wait_days": 7},
            {
                "if": [{"field": "band", "op": "eq", "value": "red"}],
                "then": [
                    {
                        "action": "notify",
                        "recipients": "team_lead",
                        "kind": "escalation",
                        "message": "Still red 7 days after it turned red",
                    }
                ],
            },
        ],
    },
    "Detractor call-back": {
        "trigger": {"type": "survey_answer", "category": "detractor"},
        "steps": [
            {
                "action": "open_task",
                "title": "Call back the detractor",
                "playbook": "Detractor call-back",
                "due_in_days": 2,
            },
            {"action": "notify", "message": "A customer answered as a detractor"},
        ],
    },
    "Weak health before renewal": {
        "trigger": {"type": "renewal_within", "days": 60},
        "conditions": [{"field": "health_score", "op": "lte", "value": 50}],
        "steps": [
            {"action": "add_to_list", "list": "At-risk renewals"},
            {"action": "notify", "message": "Renews within 60 days with a weak health score"},
        ],
    },
}


def install_example_rules() -> int:
    """Save the example rules that are not there yet (the demo's; an admin edits or switches
    them off like any other); returns how many were added."""
    present = set(db.session.scalars(select(Rule.name)))
    added = 0
    for name, definition in EXAMPLE_RULES.items():
        if name not in present:
            save_rule(None, name, definition, None, confirmed=True)
            added += 1
    return added
