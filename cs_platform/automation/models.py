"""Automation rules: their versions, which accounts each one currently matches, the steps
waiting for their day, and the log of every run per account."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cs_platform.extensions import Model
from cs_platform.models import User, utcnow


class Rule(Model):
    """A rule an admin defined: a trigger, conditions on the account, and steps (actions, waits,
    branches). `definition` is the current version's (see `cs_platform.automation.definition`)."""

    __tablename__ = "automation_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    # How many accounts an admin confirmed it may act on in one run (None: the share limit).
    confirmed_accounts: Mapped[int | None]
    # Set when a run stopped it (e.g. it would act on too much of the book); shown on its page.
    paused_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_run_at: Mapped[dt.datetime | None]


class RuleVersion(Model):
    """Every saved version of a rule, kept so that runs and waiting steps read the version that
    started them, and so that a change can be seen and undone."""

    __tablename__ = "automation_rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("automation_rules.id", ondelete="CASCADE"))
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(120))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    saved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    saved_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    saved_by: Mapped[User | None] = relationship()


class RuleMatch(Model):
    """An account a rule's trigger and conditions hold for since `since`. A rule acts on an
    account when it starts matching, not at every run; the row goes when it stops matching, so
    a later episode acts again."""

    __tablename__ = "automation_rule_matches"

    rule_id: Mapped[int] = mapped_column(
        ForeignKey("automation_rules.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    since: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RuleWait(Model):
    """The rest of a rule's steps for one account, due on `due_at` (after a "wait" step)."""

    __tablename__ = "automation_rule_waits"
    __table_args__ = (
        UniqueConstraint("rule_id", "account_id", "path"),
        Index("ix_automation_rule_waits_due_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("automation_rules.id", ondelete="CASCADE"))
    version: Mapped[int]
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # Where the steps go on: "3" or "3.then.0" (see definition.StepPath).
    path: Mapped[str] = mapped_column(String(120))
    due_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RuleRun(Model):
    """One run of a rule on one account: why it fired (or went on after a wait) and what it
    did, in order."""

    __tablename__ = "automation_rule_runs"
    __table_args__ = (
        Index("ix_automation_rule_runs_rule_at", "rule_id", "ran_at"),
        Index("ix_automation_rule_runs_account_at", "account_id", "ran_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("automation_rules.id", ondelete="CASCADE"))
    version: Mapped[int]
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    ran_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(String(500))
    # What it did, in order: ["opened task “Call the sponsor” for Dana", "waiting 7 days", ...]
    actions: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)


class BandDay(Model):
    """Each scored account's band in force, its band the scoring day before and its score,
    computed once per run of the rules (for every band trigger and condition)."""

    __tablename__ = "automation_band_days"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    band: Mapped[str] = mapped_column(String(8))
    prior_band: Mapped[str | None] = mapped_column(String(8))
    score: Mapped[float]


class UsageWeek(Model):
    """Each account's usage this week and the week before, computed once per run of the rules
    (the usage triggers of every rule read it, instead of each aggregating daily usage)."""

    __tablename__ = "automation_usage_weeks"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    this_week: Mapped[int] = mapped_column(BigInteger)  # events
    last_week: Mapped[int] = mapped_column(BigInteger)
    active_users: Mapped[int]
