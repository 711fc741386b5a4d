"""Core models shared by every domain: accounts, contacts, users, API keys, tasks, timeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cs_platform.clock import utcnow  # the one source of now, importable from here too
from cs_platform.extensions import Model

# Ids and counts are 32-bit integer columns on PostgreSQL.
MAX_INT = 2**31 - 1
ROLES = ("admin", "team_lead", "csm", "viewer")
SEGMENTS = ("smb", "mid_market", "enterprise")
SEGMENT_LABELS = {"smb": "SMB", "mid_market": "Mid-market", "enterprise": "Enterprise"}
PLANS = ("starter", "growth", "enterprise")
LIFECYCLE_STAGES = ("onboarding", "adopting", "mature", "renewing", "churned")
CONTACT_ROLES = ("executive", "decision_maker", "champion", "admin", "user", "billing")
TASK_KINDS = ("churn_risk", "detractor", "health_drop", "renewal", "manual", "rule")
TASK_SEVERITIES = ("low", "medium", "high")
TASK_STATUSES = ("open", "snoozed", "done")
TASK_OUTCOMES = ("saved", "churned", "not_a_risk")
TIMELINE_KINDS = (
    "note",
    "outreach",
    "sync",
    "score_change",
    "task",
    "survey",
    "override",
    "automation",
)
TRAIT_TYPES = ("string", "number", "boolean", "date")


def in_check(column: str, values: tuple[str, ...]) -> str:
    """SQL for a check constraint limiting `column` to `values`."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def largest_whole_amount(column: Column) -> int:
    """The largest whole amount a NUMERIC(precision, scale) column holds on PostgreSQL."""
    numeric = column.type
    assert isinstance(numeric, Numeric) and numeric.precision is not None, column
    return 10 ** (numeric.precision - (numeric.scale or 0)) - 1


def utc_iso(moment: dt.datetime | None) -> str | None:
    """A stored (naive UTC) timestamp as ISO 8601 with its offset, "...+00:00", for what leaves
    the product (webhooks, the API): a reader must never have to guess the zone."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).isoformat()


class User(UserMixin, Model):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(in_check("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16), default="csm")
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Part of every session and remember-me cookie (get_id): raising it ends them all.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # The user's IANA time zone (their digest's morning, their quiet hours); None: the business
    # time zone (BUSINESS_TIMEZONE).
    timezone: Mapped[str | None] = mapped_column(String(64))
    # The team lead whose team this user is in: they see the user's book and get escalations.
    team_lead_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @property
    def is_active(self) -> bool:  # Flask-Login asks this before logging a user in
        return self.active

    def get_id(self) -> str:
        """Flask-Login's alternative id: "<id>:<session version>"."""
        return f"{self.id}:{self.session_version}"

    @property
    def can_edit(self) -> bool:
        return self.role in ("admin", "team_lead", "csm")


class PasswordReset(Model):
    """A single-use reset link: its token is an HMAC of `salt` under SECRET_KEY, so the table
    alone cannot rebuild a link; it expires, and is used up by a reset or a newer link."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    requested_by_id: Mapped[int | None] = mapped_column(  # an admin who forced the reset
        ForeignKey("users.id", ondelete="SET NULL")
    )

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class Account(Model):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(in_check("segment", SEGMENTS), name="segment"),
        CheckConstraint(in_check("plan", PLANS), name="plan"),
        CheckConstraint(in_check("lifecycle_stage", LIFECYCLE_STAGES), name="lifecycle_stage"),
        CheckConstraint("arr >= 0", name="arr_not_negative"),
        CheckConstraint("seats >= 0", name="seats_not_negative"),
        Index("ix_accounts_owner_id", "owner_id"),
        Index("ix_accounts_domain", "domain"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(253))
    segment: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str] = mapped_column(String(16))
    arr: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=0)
    seats: Mapped[int] = mapped_column(default=0)
    contract_start: Mapped[dt.date | None]
    renewal_date: Mapped[dt.date | None]
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="onboarding")
    churned_at: Mapped[dt.date | None]
    churn_reason: Mapped[str | None] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # True for rows made by the demo generator, so it never overwrites real customers.
    is_demo: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    owner: Mapped[User | None] = relationship()
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="account", order_by="Contact.name", passive_deletes=True
    )
    external_ids: Mapped[list[ExternalId]] = relationship(
        back_populates="account", passive_deletes=True
    )
    traits: Mapped[list[AccountTrait]] = relationship(
        order_by="AccountTrait.key", passive_deletes=True, cascade="all, delete-orphan"
    )

    @property
    def trait_values(self) -> dict[str, str | float | bool | None]:
        """Custom traits by key as JSON values (dates as YYYY-MM-DD)."""
        return {
            trait.key: trait.value.isoformat() if isinstance(trait.value, dt.date) else trait.value
            for trait in self.traits
        }

    @property
    def is_churned(self) -> bool:
        """Whether the customer has left: it has a churn date or sits in the churned stage."""
        return self.churned_at is not None or self.lifecycle_stage == "churned"


class ExternalId(Model):
    """An account's id in an outside system (HubSpot company id, Zendesk organization id, ...)."""

    __tablename__ = "external_ids"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))

    account: Mapped[Account] = relationship(back_populates="external_ids")


class TraitDefinition(Model):
    """A custom account trait RevOps sends (e.g. "tier", "csm_region"): its key, label and type,
    fixed at the first value written or declared beforehand (cs_platform.accounts.traits)."""

    __tablename__ = "trait_definitions"
    __table_args__ = (CheckConstraint(in_check("type", TRAIT_TYPES), name="type"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(String(500), default="", server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AccountTrait(Model):
    """One account's value of one trait, in the column of the trait's type (the others NULL), so
    that filters compare numbers as numbers and dates as dates."""

    __tablename__ = "account_traits"
    __table_args__ = (
        Index("ix_account_traits_key_text", "key", "value_text"),
        Index("ix_account_traits_key_number", "key", "value_number"),
        Index("ix_account_traits_key_date", "key", "value_date"),
    )

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(
        ForeignKey("trait_definitions.key", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    value_text: Mapped[str | None] = mapped_column(String(1000))
    value_number: Mapped[float | None]
    value_bool: Mapped[bool | None]
    value_date: Mapped[dt.date | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def value(self) -> str | float | bool | dt.date | None:
        """The value, whichever typed column holds it."""
        for value in (self.value_text, self.value_number, self.value_bool, self.value_date):
            if value is not None:
                return value
        return None


class AccountList(Model):
    """A named list of accounts ("Q1 expansion targets"), filled by hand or by a rule."""

    __tablename__ = "account_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="", server_default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AccountListMember(Model):
    """One account on one list, with who put it there (a user's name or "rule: <name>")."""

    __tablename__ = "account_list_members"

    list_id: Mapped[int] = mapped_column(
        ForeignKey("account_lists.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AccountChange(Model):
    """One change of a CRM field that features read, with its old and new value as text, so that
    training snapshots and backtests of a past day see the value then in force, not today's."""

    __tablename__ = "account_changes"
    FIELDS = ("arr", "seats", "plan", "segment", "contract_start", "renewal_date")
    __table_args__ = (
        CheckConstraint(in_check("field", FIELDS), name="field"),
        Index("ix_account_changes_changed_at", "changed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Who changed it: a connector ("hubspot", "salesforce") or "api".
    source: Mapped[str] = mapped_column(String(32))

    @classmethod
    def rows(
        cls, account_id: int, changes: Iterable[tuple[str, Any, Any]], source: str
    ) -> list[AccountChange]:
        """History rows for the (field, old, new) changes of one account that features read;
        other fields and values that did not change leave no row."""
        return [
            cls(
                account_id=account_id,
                field=field,
                old_value=_as_text(old),
                new_value=_as_text(new),
                source=source,
            )
            for field, old, new in changes
            if field in cls.FIELDS and old != new
        ]


def _as_text(value: Any) -> str | None:
    """Decimals, dates and ints as their plain text ("48000.00", "2027-03-01"); None stays."""
    return None if value is None else str(value)


# Account.arr is NUMERIC(14, 2): 999,999,999,999.99 at most on PostgreSQL (10**12 does not fit).
MAX_ARR = largest_whole_amount(Account.__table__.c.arr)


class Contact(Model):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("account_id", "email"),
        CheckConstraint(in_check("role", CONTACT_ROLES), name="role"),
        Index("ix_contacts_email", "email"),
        Index("ix_contacts_updated_at", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="user")
    locale: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    unsubscribed_at: Mapped[dt.datetime | None]
    bounced_at: Mapped[dt.datetime | None]
    last_surveyed_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Any change of the row (the API, an unsubscribe, a bounce, a send): what updated_since pulls.
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    account: Mapped[Account] = relationship(back_populates="contacts")


class ApiKey(Model):
    """An API key; only a SHA-256 hash of the secret is stored, the key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # First characters of the key, shown in lists so people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Task(Model):
    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(in_check("kind", TASK_KINDS), name="kind"),
        CheckConstraint(in_check("severity", TASK_SEVERITIES), name="severity"),
        CheckConstraint(in_check("status", TASK_STATUSES), name="status"),
        CheckConstraint(f"outcome IS NULL OR {in_check('outcome', TASK_OUTCOMES)}", name="outcome"),
        # At most one open (or snoozed) task per account, kind and reason.
        Index(
            "uq_tasks_one_open_per_reason",
            "account_id",
            "kind",
            "reason",
            unique=True,
            sqlite_where=text("status != 'done'"),
            postgresql_where=text("status != 'done'"),
        ),
        Index("ix_tasks_owner_status_due", "owner_id", "status", "due_date"),
        # An account's tasks (its page, its last done ones) and the cascade when it is deleted.
        Index("ix_tasks_account_status_completed", "account_id", "status", "completed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(8), default="medium")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    # Machine-readable reason used for de-duplication, e.g. "detractor" or "p_churn_90d".
    reason: Mapped[str] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text, default="")
    due_date: Mapped[dt.date | None]
    status: Mapped[str] = mapped_column(String(8), default="open")
    snoozed_until: Mapped[dt.date | None]
    snooze_reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[dt.datetime | None]

    account: Mapped[Account] = relationship()
    owner: Mapped[User | None] = relationship()


class TimelineEntry(Model):
    """One line in an account's timeline: a note, an outreach, a sync, a score change, ..."""

    __tablename__ = "timeline_entries"
    __table_args__ = (
        CheckConstraint(in_check("kind", TIMELINE_KINDS), name="kind"),
        Index("ix_timeline_entries_account_created", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="note")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    account: Mapped[Account] = relationship()
    author: Mapped[User | None] = relationship()


class AuditEntry(Model):
    """Who did what to the platform's settings and data (keys, scorecards, exports, users)."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # e.g. "api_key.created", "scorecard.updated", "risk_list.exported"
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    actor: Mapped[User | None] = relationship()
