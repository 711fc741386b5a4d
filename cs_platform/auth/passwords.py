"""Passwords and sessions: strength rules, change, emailed single-use reset links, and ending
every session of a user. Callers commit; reset emails go through the outbox in the same
transaction (cs_platform/auth/emails.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from flask import current_app
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from cs_platform.auth.services import AuthError, check_password_strength
from cs_platform.extensions import db
from cs_platform.models import PasswordReset, User, utcnow
from cs_platform.outbox import enqueue

RESET_HOURS = 1
RESET_TOKEN = re.compile(r"^(\d{1,10})\.([0-9a-f]{64})$")


def hash_new_password(user: User, password: str) -> str:
    check_password_strength(password, [user.email, user.name])
    return generate_password_hash(password)


def end_sessions(user: User) -> None:
    """Every session and remember-me cookie of the user stops working (they carry the old
    session version)."""
    user.session_version = (user.session_version or 1) + 1


def change_password(user: User, current: str, new: str) -> None:
    """The signed-in user's own change: the current password first; other sessions end."""
    if not check_password_hash(user.password_hash, current):
        raise AuthError("the current password is not right")
    user.password_hash = hash_new_password(user, new)
    end_sessions(user)
    expire_resets(user)


def token_of(reset: PasswordReset) -> str:
    """The link's token: the reset's id and an HMAC of its salt under SECRET_KEY."""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"password-reset:{reset.id}:{reset.salt}".encode(), hashlib.sha256)
    return f"{reset.id}.{digest.hexdigest()}"


def start_reset(user: User, requested_by: User | None = None) -> PasswordReset:
    """A new reset link for the user, emailed through the outbox; older links stop working."""
    expire_resets(user)
    reset = PasswordReset(
        user_id=user.id,
        salt=secrets.token_hex(16),
        expires_at=utcnow() + dt.timedelta(hours=RESET_HOURS),
        requested_by_id=requested_by.id if requested_by else None,
    )
    db.session.add(reset)
    db.session.flush()
    enqueue("account_email", {"template": "password_reset", "reset_id": reset.id},
            f"password-reset:{reset.id}")  # fmt: skip
    return reset


def force_reset(user: User, admin: User) -> PasswordReset:
    """An admin's reset: the old password and every session stop working at once, and the
    user gets a link to choose a new password."""
    user.password_hash = generate_password_hash(secrets.token_urlsafe(32))  # nobody knows it
    end_sessions(user)
    return start_reset(user, requested_by=admin)


def expire_resets(user: User) -> None:
    db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=utcnow())
    )


def usable_reset(token: str) -> PasswordReset | None:
    """The unused, unexpired reset this token belongs to (a forged or stale one gives None)."""
    match = RESET_TOKEN.match(token)
    if match is None:
        return None
    reset = db.session.get(PasswordReset, int(match.group(1)))
    if reset is None or reset.used_at is not None or reset.expires_at < utcnow():
        return None
    if not hmac.compare_digest(token_of(reset), token) or not reset.user.active:
        return None
    return reset


def complete_reset(reset: PasswordReset, new: str) -> User:
    """Set the new password, use the link up and end every session of the user."""
    user = reset.user
    user.password_hash = hash_new_password(user, new)
    end_sessions(user)
    expire_resets(user)
    return user


def user_for_reset_request(email: str) -> User | None:
    """The active user a "forgot password" request names, if any (the page never says)."""
    return db.session.scalar(
        select(User).where(User.email == email.strip().lower(), User.active.is_(True))
    )
