"""The audit log of admin actions. Callers commit, so an entry lands with the change it records."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from cs_platform.extensions import db
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
