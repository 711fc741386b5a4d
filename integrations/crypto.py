"""Connection credentials at rest: Fernet with the key(s) in INTEGRATIONS_KEY.

Several comma-separated keys rotate: the first encrypts, any of them decrypts.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class CredentialsError(Exception):
    """Stored credentials cannot be decrypted (the key changed) or are not a JSON object."""


def _fernet() -> MultiFernet:
    keys = [key.strip() for key in current_app.config["INTEGRATIONS_KEY"].split(",") if key.strip()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt_credentials(credentials: dict[str, Any]) -> str:
    """Encrypt a credentials mapping for storage."""
    return _fernet().encrypt(json.dumps(credentials).encode()).decode()


def decrypt_credentials(token: str) -> dict[str, Any]:
    """Decrypt stored credentials; an empty token means none were stored."""
    if not token:
        return {}
    try:
        data = json.loads(_fernet().decrypt(token.encode()))
    except (InvalidToken, ValueError) as exc:
        raise CredentialsError(
            "stored credentials cannot be decrypted: was INTEGRATIONS_KEY changed?"
        ) from exc
    if not isinstance(data, dict):
        raise CredentialsError("stored credentials are not a JSON object")
    return data
