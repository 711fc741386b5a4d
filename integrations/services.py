"""Connections and the admin overview; services flush, the caller commits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from cs_platform.audit import record_audit
from cs_platform.extensions import db
from cs_platform.models import Account
from integrations.crypto import decrypt_credentials, encrypt_credentials
from integrations.matching import normalise_domain
from integrations.models import Connection, SyncRun, UnmatchedRecord


def save_connection(
    connection: Connection | None,
    *,
    name: str,
    kind: str,
    base_url: str = "",
    credentials: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    interval_minutes: int = 60,
    request_budget: int = 10_000,
    enabled: bool = True,
) -> Connection:
    """Create (connection=None) or update a connection; blank credential values keep the old.
    The audit log records which fields changed (secrets by name only)."""
    action = "connection.updated" if connection else "connection.created"
    connection = connection or Connection(kind=kind)
    before = audited_fields(connection)
    stored = decrypt_credentials(connection.credentials_encrypted or "")
    fresh = {key: value for key, value in (credentials or {}).items() if value}
    connection.name = name
    connection.kind = kind
    connection.base_url = base_url
    connection.credentials_encrypted = encrypt_credentials({**stored, **fresh})
    connection.settings = settings if settings is not None else (connection.settings or {})
    connection.interval_minutes = interval_minutes
    connection.request_budget = request_budget
    connection.enabled = enabled
    db.session.add(connection)
    db.session.flush()
    after = audited_fields(connection)
    changed = {key: [before[key], value] for key, value in after.items() if before[key] != value}
    if changed or fresh:
        record_audit(action, name, {"kind": kind, "changed": changed, "credentials": sorted(fresh)})
    return connection


def audited_fields(connection: Connection) -> dict[str, Any]:
    """What the audit log shows of a connection: everything but its secrets."""
    return {
        "name": connection.name,
        "base_url": connection.base_url,
        "settings": connection.settings,
        "interval_minutes": connection.interval_minutes,
        "request_budget": connection.request_budget,
        "enabled": connection.enabled,
    }


@dataclass
class ConnectionRow:
    connection: Connection
    last_run: SyncRun | None
    open_unmatched: int


def connection_overview() -> list[ConnectionRow]:
    """Every connection with its latest run and open review-queue size (three queries)."""
    connections = db.session.scalars(select(Connection).order_by(Connection.name)).all()
    latest = select(func.max(SyncRun.id)).group_by(SyncRun.connection_id).scalar_subquery()
    runs = {
        run.connection_id: run
        for run in db.session.scalars(select(SyncRun).where(SyncRun.id.in_(latest)))
    }
    open_counts = dict(
        db.session.execute(
            select(UnmatchedRecord.connection_id, func.count())
            .where(UnmatchedRecord.resolved_at.is_(None))
            .group_by(UnmatchedRecord.connection_id)
        ).all()
    )
    return [ConnectionRow(c, runs.get(c.id), open_counts.get(c.id, 0)) for c in connections]


def find_account(value: str) -> Account | None:
    """An account by id or by domain."""
    value = value.strip()
    if value.isdigit():
        return db.session.get(Account, int(value))
    domain = normalise_domain(value)
    accounts = db.session.scalars(
        select(Account).where(func.lower(Account.domain) == domain).limit(2)
    ).all()
    return accounts[0] if len(accounts) == 1 else None
