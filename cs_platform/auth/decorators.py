"""Guards for pages (login and role) and for API calls (API key and scope)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, g, request
from flask_login import current_user

from cs_platform.auth.services import find_active_api_key, key_has_scope
from cs_platform.errors import json_error
from cs_platform.extensions import db, login_manager


def roles_required(*roles: str) -> Callable:
    """Allow only logged-in users with one of `roles` (the login check comes first)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def api_key_required(scope: str) -> Callable:
    """Require `Authorization: Bearer <key>` with `scope`; sets g.api_key and g.api_key_id.
    401 or 403 as JSON."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return json_error(
                    401, "unauthorized", "missing API key: send Authorization: Bearer <key>"
                )
            key = find_active_api_key(token.strip())
            if key is None:
                return json_error(401, "unauthorized", "unknown or revoked API key")
            if not key_has_scope(key, scope):
                return json_error(403, "forbidden", f"this API key lacks the scope {scope}")
            g.api_key, g.api_key_id = key, key.id
            # The key was read or its use recorded: keep the use even if the call only reads.
            # A call that touched no session (the key came from the cache) makes none.
            if db.session.registry.has() and db.session().in_transaction():
                db.session.commit()
            return view(*args, **kwargs)

        return wrapped

    return decorator
