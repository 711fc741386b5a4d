"""Invitation link tokens: 128 random bits per invitation, only a hash in the database.

The token is HMAC-SHA256(SECRET_KEY, salt) cut to 16 bytes and base64url-encoded (22 characters),
with a random per-invitation salt. The database keeps the salt and sha256(token): a copy of the
database without the secret key reveals no working link, yet the server can re-derive the token
for a reminder. Rotating SECRET_KEY makes outstanding links unusable (they show the 404 page).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

TOKEN_BYTES = 16  # 128 bits
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22}$")


def new_salt() -> str:
    return secrets.token_hex(16)


def derive_token(secret_key: str, salt: str) -> str:
    """The link token of the invitation with `salt`."""
    digest = hmac.new(secret_key.encode(), f"survey-invitation:{salt}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:TOKEN_BYTES]).decode().rstrip("=")


def hash_token(token: str) -> str:
    """What the database stores and looks tokens up by."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(token: str) -> bool:
    """Cheap shape check, so garbage never reaches the database."""
    return bool(TOKEN_PATTERN.match(token))
