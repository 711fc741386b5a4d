"""Users and API keys: creation, password checks, key lookup. Callers commit."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from cs_platform.extensions import db
from cs_platform.models import ROLES, ApiKey, User, utcnow

API_SCOPES = ("read:scores", "read:surveys", "write:accounts", "admin")
API_KEY_PREFIX = "csk_"
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
MIN_PASSWORD_LENGTH = 10
# Checked when the email is unknown, so a wrong email costs as much time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class AuthError(ValueError):
    """Invalid user or key input; the message is fit to show to the person who typed it."""


def create_user(email: str, name: str, role: str, password: str) -> User:
    """Add a user with a hashed password."""
    email = email.strip().lower()
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AuthError(f"a user with email {email} already exists")
    user = User(email=email, name=name, role=role, password_hash=generate_password_hash(password))
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None."""
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def hash_api_key(plaintext: str) -> str:
    """SHA-256 of a key: keys are 256-bit random, so a fast hash is enough and allows lookup."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_api_key(
    name: str, scopes: list[str], created_by: User | None = None
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored and shown once."""
    unknown = sorted(set(scopes) - set(API_SCOPES))
    if unknown:
        raise AuthError(
            f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(API_SCOPES)}"
        )
    if not scopes:
        raise AuthError("an API key needs at least one scope")
    plaintext = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        prefix=plaintext[:12],
        key_hash=hash_api_key(plaintext),
        scopes=sorted(set(scopes)),
        created_by_id=created_by.id if created_by else None,
    )
    db.session.add(key)
    db.session.flush()
    return key, plaintext


def find_active_api_key(plaintext: str) -> ApiKey | None:
    """The unrevoked key with this plaintext, its last-used time updated (to the minute, so a
    busy key does not write its row on every call)."""
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(plaintext)))
    if key is None or not key.is_active:
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
    return key


def key_has_scope(key: ApiKey, scope: str) -> bool:
    """Whether the key grants `scope`; the admin scope grants every scope."""
    return scope in key.scopes or "admin" in key.scopes
