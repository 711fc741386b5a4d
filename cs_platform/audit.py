"""The audit log of admin actions. Callers commit, so an entry lands with the change it records."""

from __future__ import annotations

import json
from typing import Any

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import inspect

from cs_platform.extensions import Model, db
from cs_platform.models import AuditEntry, User


def record_audit(
    action: str, target: str = "", details: dict[str, Any] | None = None, actor: User | None = None
) -> AuditEntry:
    """Add an audit entry for `action` by `actor` (default: the signed-in user, if any)."""
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        action=action,
        target=target,
        details=details or {},
        remote_addr=request.remote_addr if has_request_context() else None,
    )
    db.session.add(entry)
    return entry


def changed_fields(record: Model) -> dict[str, list[Any]]:
    """The columns an unflushed edit changes, {name: [old, new]} (for a new row: [None, value]),
    in JSON-safe form for an audit entry's details."""
    state = inspect(record)
    changes = {}
    for column in state.mapper.column_attrs:
        history = state.attrs[column.key].history
        if history.added or history.deleted:
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if old != new:
                changes[column.key] = json.loads(json.dumps([old, new], default=str))
    return changes


def record_edit(
    action: str, target: str, record: Model, actor: User | None = None
) -> AuditEntry | None:
    """Audit an edit of `record` with what it changes; nothing when nothing changes."""
    changes = changed_fields(record)
    return record_audit(action, target, {"changed": changes}, actor) if changes else None
