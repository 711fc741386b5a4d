"""Standard Webhooks signing and the encryption of signing secrets at rest (no Flask here)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, MultiFernet

SECRET_PREFIX = "whsec_"  # noqa: S105 - the public prefix of every secret, not a secret


def generate_secret() -> str:
    """A new signing secret: whsec_ + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed by the secret's bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signature_header(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature value: one signature per secret, space separated (rotation)."""
    return " ".join(sign(secret, message_id, timestamp, body) for secret in secrets_)


def cipher(keys: str | None, secret_key: str) -> MultiFernet:
    """Fernet over WEBHOOK_ENCRYPTION_KEY (comma-separated, newest first, so keys can rotate),
    or over a key derived from SECRET_KEY when none is configured."""
    if keys:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",")])
    derived = hashlib.sha256(b"cs-platform webhook secrets\0" + secret_key.encode()).digest()
    return MultiFernet([Fernet(base64.urlsafe_b64encode(derived))])
