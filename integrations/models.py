"""Data pulled from outside systems (tickets, usage) and the sync machinery (connections, runs)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Subquery,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cs_platform.extensions import Model, db
from cs_platform.models import Account, in_check, utcnow

TICKET_STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
SATISFACTION = ("good", "bad")


class SupportTicket(Model):
    __tablename__ = "support_tickets"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        CheckConstraint(in_check("status", TICKET_STATUSES), name="status"),
        CheckConstraint(in_check("priority", TICKET_PRIORITIES), name="priority"),
        CheckConstraint(
            f"satisfaction IS NULL OR {in_check('satisfaction', SATISFACTION)}", name="satisfaction"
        ),
        CheckConstraint("first_reply_minutes IS NULL OR first_reply_minutes >= 0", name="reply"),
        CheckConstraint("resolution_minutes IS NULL OR resolution_minutes >= 0", name="resolution"),
        Index("ix_support_tickets_account_created", "account_id", "created_at"),
        Index("ix_support_tickets_synced", "synced_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))  # "zendesk", "freshdesk", "demo"
    external_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(8))
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    solved_at: Mapped[dt.datetime | None]
    first_reply_minutes: Mapped[int | None]
    resolution_minutes: Mapped[int | None]
    satisfaction: Mapped[str | None] = mapped_column(String(4))
    # Who filed the ticket, as the helpdesk names them: CSAT after the ticket goes to them.
    requester_email: Mapped[str | None] = mapped_column(String(254))
    # When a sync last wrote the row, by our clock. Event campaigns read tickets by this, not by
    # solved_at, so a ticket that reaches us after the planning run that "covered" its solve time
    # is still surveyed. Null only for rows loaded in bulk (the demo book's history).
    synced_at: Mapped[dt.datetime | None]  # set by integrations.writers on every write

    account: Mapped[Account] = relationship()


# Where a UsageDaily row came from: the events roll-up, the CSV import, a SQL source (its
# `source` setting, "warehouse" by default), or IMPORTED_USAGE: rows from before migration 0009
# and rows written without naming a source (the demo book, benches).
EVENTS_USAGE = "events"
CSV_USAGE = "csv"
WAREHOUSE_USAGE = "warehouse"
IMPORTED_USAGE = "imported"


class UsageDaily(Model):
    """One account's product usage on one day as one source reported it; no writer overwrites
    another source's row. Read the day's figures through `combined()`."""

    __tablename__ = "usage_daily"
    __table_args__ = (
        CheckConstraint("active_users >= 0", name="active_users"),
        CheckConstraint("events >= 0", name="events"),
    )

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    # A server default only, so that bulk writers naming no source (the demo loader) work too.
    source: Mapped[str] = mapped_column(String(32), primary_key=True, server_default=IMPORTED_USAGE)
    active_users: Mapped[int] = mapped_column(default=0)
    events: Mapped[int] = mapped_column(default=0)
    # Number of distinct product features used that day; per-feature counts when known.
    features_used: Mapped[int] = mapped_column(default=0)
    feature_counts: Mapped[dict | None] = mapped_column(JSON)

    @classmethod
    def combined(cls, *where: ColumnElement[bool]) -> Subquery:
        """One row per (account_id, day) of the rows matching `where`, across sources: each
        figure is the largest any source reported that day. Sources measure the same product,
        so their users and events overlap and a sum would count them twice."""
        return (
            select(
                cls.account_id,
                cls.day,
                func.max(cls.active_users).label("active_users"),
                func.max(cls.events).label("events"),
                func.max(cls.features_used).label("features_used"),
            )
            .where(*where)
            .group_by(cls.account_id, cls.day)
            .subquery("usage_combined")
        )


CONNECTION_KINDS = ("zendesk", "hubspot", "salesforce", "freshdesk", "segment", "sql")
KIND_LABELS = {
    "zendesk": "Zendesk Support",
    "hubspot": "HubSpot CRM",
    "salesforce": "Salesforce",
    "freshdesk": "Freshdesk",
    "segment": "Product events (Segment-style)",
    "sql": "SQL warehouse (daily usage)",
}
CONNECTION_STATUSES = ("new", "ok", "failing")
RUN_STATUSES = ("running", "succeeded", "failed", "abandoned")


class Connection(Model):
    """One configured outside system; its credentials are Fernet-encrypted (integrations.crypto)."""

    __tablename__ = "integration_connections"
    __table_args__ = (
        CheckConstraint(in_check("kind", CONNECTION_KINDS), name="kind"),
        CheckConstraint(in_check("status", CONNECTION_STATUSES), name="status"),
        CheckConstraint("interval_minutes > 0", name="interval"),
        CheckConstraint("request_budget > 0", name="budget"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    base_url: Mapped[str] = mapped_column(String(300), default="")
    credentials_encrypted: Mapped[str] = mapped_column(Text, default="")
    # Connector options: property names to map, start time, write key hash for "segment", ...
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    interval_minutes: Mapped[int] = mapped_column(default=60)
    # Most HTTP requests one sync run may make; a run that hits it stops and resumes next time.
    request_budget: Mapped[int] = mapped_column(default=10_000)
    # SHA-256 of a Segment-style source's write key, to find the source on each ingest call.
    write_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(8), default="new")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SyncState(Model):
    """Where one stream of one connection stopped: the cursor committed with the last page."""

    __tablename__ = "integration_sync_states"
    __table_args__ = (UniqueConstraint("connection_id", "stream"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("integration_connections.id", ondelete="CASCADE")
    )
    stream: Mapped[str] = mapped_column(String(40))
    cursor: Mapped[str | None] = mapped_column(Text)
    last_success_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    @classmethod
    def for_stream(cls, connection_id: int, stream: str) -> SyncState:
        """The state of one stream, created (and flushed) on first use."""
        query = select(cls).where(cls.connection_id == connection_id, cls.stream == stream)
        state = db.session.scalar(query)
        if state is None:
            state = cls(connection_id=connection_id, stream=stream)
            db.session.add(state)
            db.session.flush()
        return state


class SyncRun(Model):
    """One sync run of a connection with what it did."""

    __tablename__ = "integration_sync_runs"
    __table_args__ = (
        CheckConstraint(in_check("status", RUN_STATUSES), name="status"),
        Index("ix_integration_sync_runs_connection_started", "connection_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("integration_connections.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(10), default="running")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    duration_seconds: Mapped[float | None]
    fetched: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unmatched: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    requests: Mapped[int] = mapped_column(default=0)
    waited_seconds: Mapped[float] = mapped_column(default=0.0)  # rate-limit waits and back-off
    error: Mapped[str | None] = mapped_column(Text)

    connection: Mapped[Connection] = relationship()


class UnmatchedRecord(Model):
    """A record that could not be stored (no account, or bad data), kept for an admin to resolve."""

    __tablename__ = "integration_unmatched_records"
    __table_args__ = (
        UniqueConstraint("connection_id", "stream", "external_id"),
        Index("ix_integration_unmatched_open", "resolved_at", "connection_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("integration_connections.id", ondelete="CASCADE")
    )
    stream: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(128))
    # "unmatched" (no account found) or "invalid" (bad data); reason says which keys/fields.
    kind: Mapped[str] = mapped_column(String(10), default="unmatched")
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSON)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]
    resolved_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )

    connection: Mapped[Connection] = relationship()


class RawUsageEvent(Model):
    """A Segment-style event as received; kept only until rolled up and past the dedup window.

    `rollup_batch` is NULL until a roll-up claims the event, then the number of that roll-up
    (0: rolled up before migration 0005). The (connection, batch) index finds both the unclaimed
    events of a connection and the events of one batch; the partial (connection, user) index the
    events without a groupId of a user just linked to a group.
    """

    __tablename__ = "raw_usage_events"
    __table_args__ = (
        UniqueConstraint("connection_id", "message_id"),
        Index("ix_raw_usage_events_group_day", "group_id", "day"),
        Index("ix_raw_usage_events_rollup", "connection_id", "rollup_batch"),
        Index(
            "ix_raw_usage_events_ungrouped_user",
            "connection_id",
            "user_id",
            postgresql_where=text("group_id IS NULL"),
            sqlite_where=text("group_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("integration_connections.id", ondelete="CASCADE")
    )
    message_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(10))
    event: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(200))
    group_id: Mapped[str | None] = mapped_column(String(200))
    day: Mapped[dt.date]
    timestamp: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    rollup_batch: Mapped[int | None]


class UsageUserLink(Model):
    """Which group (account) a user of one event source belongs to, from its group() calls: the
    latest call by timestamp wins. Events without a groupId count for their user's group.

    `changed_batch` is the roll-up that last set or changed the group, and `previous_group_id`
    the group it replaced then: that roll-up recomputes the user's days for both.
    """

    __tablename__ = "usage_user_links"
    __table_args__ = (
        Index("ix_usage_user_links_changed", "connection_id", "changed_batch"),
        Index("ix_usage_user_links_group", "group_id"),
    )

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("integration_connections.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(200))
    seen_at: Mapped[dt.datetime]  # the timestamp of the group() call that set the link
    changed_batch: Mapped[int | None]
    previous_group_id: Mapped[str | None] = mapped_column(String(200))
