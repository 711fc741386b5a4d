"""Users and API keys: creation, password checks, key lookup. Callers commit."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from flask import current_app, has_app_context
from sqlalchemy import event, select, update
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


@dataclass(frozen=True)
class ActiveKey:
    """What an API call needs of an unrevoked key, as read from the database."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    last_used_at: dt.datetime | None


class ApiKeyCache:
    """One app's API keys checked within the last API_KEY_CACHE_SECONDS, by hash: a key revoked
    or rescoped by another process is honoured once its entry runs out (this process's own
    changes drop the entry at once). `now` is a monotonic clock in seconds."""

    def __init__(self, seconds: int, now: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.now = now
        self._entries: dict[str, tuple[ActiveKey, float]] = {}

    def get(self, key_hash: str) -> ActiveKey | None:
        """The key checked under this hash, while its entry lasts."""
        key, trusted_until = self._entries.get(key_hash, (None, 0.0))
        return key if self.now() < trusted_until else None

    def keep(self, key_hash: str, key: ActiveKey) -> None:
        """Trust `key`, just read from the database, for the cache's seconds."""
        self._entries[key_hash] = (key, self.now() + self.seconds)

    def used(self, key_hash: str, key: ActiveKey) -> None:
        """Replace the entry with `key` (its last use recorded), keeping its expiry."""
        if key_hash in self._entries:
            self._entries[key_hash] = (key, self._entries[key_hash][1])

    def forget(self, key_hash: str) -> None:
        self._entries.pop(key_hash, None)


def api_key_cache() -> ApiKeyCache:
    """The current app's key cache (made on first use)."""
    extensions = current_app.extensions
    if "api_key_cache" not in extensions:
        extensions["api_key_cache"] = ApiKeyCache(current_app.config["API_KEY_CACHE_SECONDS"])
    return extensions["api_key_cache"]


def find_active_api_key(plaintext: str) -> ActiveKey | None:
    """The unrevoked key with this plaintext (from the app's cache, or read and cached), its
    last-used time updated to the minute, so a busy key does not write its row on every call.
    Callers commit."""
    key_hash = hash_api_key(plaintext)
    cache = api_key_cache()
    key = cache.get(key_hash)
    if key is None:
        key = read_active_key(key_hash)
        if key is None:
            return None
        cache.keep(key_hash, key)
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
        key = replace(key, last_used_at=now)
        cache.used(key_hash, key)
    return key


def read_active_key(key_hash: str) -> ActiveKey | None:
    """The unrevoked key with this hash, read from the database."""
    row = db.session.execute(
        select(ApiKey.id, ApiKey.name, ApiKey.prefix, ApiKey.scopes, ApiKey.last_used_at).where(
            ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)
        )
    ).first()
    return ActiveKey(*row) if row else None


@event.listens_for(ApiKey.revoked_at, "set")
@event.listens_for(ApiKey.scopes, "set")
def forget_changed_key(key: ApiKey, *_: object) -> None:
    """A key revoked or rescoped in this process is checked again on its next call here."""
    if has_app_context() and key.key_hash:
        api_key_cache().forget(key.key_hash)


def key_has_scope(key: ActiveKey, scope: str) -> bool:
    """Whether the key grants `scope`; the admin scope grants every scope."""
    return scope in key.scopes or "admin" in key.scopes
