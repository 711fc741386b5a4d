"""Users and API keys: creation, password checks, key lookup. Callers commit."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from cs_platform.extensions import db
from cs_platform.models import ROLES, ApiKey, User, utcnow

API_SCOPES = (
    "read:scores",
    "read:surveys",
    "read:events",
    "write:accounts",
    "read:contacts",
    "write:contacts",
    "send:surveys",
    "manage:webhooks",
    "admin",
)
API_KEY_PREFIX = "csk_"
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
MIN_STRENGTH = 3  # zxcvbn's score, 0-4: 3 is "safely unguessable" for an online attacker
# Checked when the email is unknown, so a wrong email costs as much time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class AuthError(ValueError):
    """Invalid user or key input; the message is fit to show to the person who typed it."""


def create_user(email: str, name: str, role: str, password: str | None) -> User:
    """Add a user with a hashed password; None gives an unusable random one (the user signs in
    after a reset link, or never: the demo's colleagues)."""
    email = email.strip().lower()
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}")
    if password is not None:
        check_password_strength(password, [email, name])
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AuthError(f"a user with email {email} already exists")
    secret = password if password is not None else secrets.token_urlsafe(32)
    user = User(email=email, name=name, role=role, password_hash=generate_password_hash(secret))
    db.session.add(user)
    db.session.flush()
    return user


def check_password_strength(password: str, user_inputs: list[str]) -> None:
    """Raise AuthError with advice unless the password is long enough, not common or
    patterned (zxcvbn, with the person's name and email as words to avoid) and not built on
    the person's own name or address."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AuthError(f"the password can have at most {MAX_PASSWORD_LENGTH} characters")
    words = personal_words(user_inputs)
    if any(word in password.lower() for word in words):
        raise AuthError("the password must not contain your name or email address")
    verdict = zxcvbn(password[:100], user_inputs=words)
    if verdict["score"] < MIN_STRENGTH:
        advice = [verdict["feedback"]["warning"], *verdict["feedback"]["suggestions"]]
        reason = " ".join(text for text in advice if text) or "It is too easy to guess."
        raise AuthError(f"the password is too easy to guess. {reason}")


def personal_words(user_inputs: list[str]) -> list[str]:
    """The parts of a name and an email (4 letters or more) a password must not be built on."""
    parts = re.split(r"[\s@._+-]+", " ".join(user_inputs).lower())
    return sorted({part for part in parts if len(part) >= 4})


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
