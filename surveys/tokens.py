"""Link tokens: invitation tokens (128 random bits, only a hash in the database) and two signed
kinds that need no row at all, a preview token and a lasting opt-out token.

The invitation token is HMAC-SHA256(SECRET_KEY, salt) cut to 16 bytes and base64url-encoded
(22 characters), with a random per-invitation salt. The database keeps the salt and
sha256(token): a copy of the database without the secret key reveals no working link, yet the
server can re-derive the token for a reminder.

Signed tokens are `<id>.<id>...<mac>`: the ids in the clear and a 128-bit HMAC of them under a
purpose of their own, so a token of one kind never passes for another, and the "." keeps them
apart from invitation tokens. A preview token (a campaign's "Send a test" email) opens the pages
without an invitation, so it cannot record anything. An opt-out token (contact and survey) keeps
unsubscribing when the invitation has expired or its campaign, and with it the invitation row,
is gone. Rotating SECRET_KEY makes every outstanding link unusable (they show the 404 page).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

TOKEN_BYTES = 16  # 128 bits
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22}$")
SIGNED_PATTERN = re.compile(r"^(?:[0-9]{1,18}\.)+[A-Za-z0-9_-]{22}$")
PREVIEW = "survey-preview"
OPT_OUT = "survey-unsubscribe"


def new_salt() -> str:
    return secrets.token_hex(16)


def _mac(secret_key: str, message: str) -> str:
    digest = hmac.new(secret_key.encode(), message.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:TOKEN_BYTES]).decode().rstrip("=")


def derive_token(secret_key: str, salt: str) -> str:
    """The link token of the invitation with `salt`."""
    return _mac(secret_key, f"survey-invitation:{salt}")


def hash_token(token: str) -> str:
    """What the database stores and looks tokens up by."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(token: str) -> bool:
    """Cheap shape check, so garbage never reaches the database."""
    return bool(TOKEN_PATTERN.match(token))


def sign_ids(secret_key: str, purpose: str, *ids: int) -> str:
    """`ids` and their MAC for `purpose` as one URL-safe token."""
    clear = ".".join(str(number) for number in ids)
    return f"{clear}.{_mac(secret_key, f'{purpose}:{clear}')}"


def read_ids(secret_key: str, purpose: str, token: str, count: int) -> tuple[int, ...] | None:
    """The `count` ids of a token signed for `purpose`, or None for anything else."""
    if not SIGNED_PATTERN.match(token):
        return None
    clear, _, mac = token.rpartition(".")
    ids = tuple(int(number) for number in clear.split("."))
    if len(ids) != count or not hmac.compare_digest(mac, _mac(secret_key, f"{purpose}:{clear}")):
        return None
    return ids


def preview_token(secret_key: str, campaign_id: int) -> str:
    """The token of a campaign's test email links: the real pages, recording nothing."""
    return sign_ids(secret_key, PREVIEW, campaign_id)


def preview_campaign_id(secret_key: str, token: str) -> int | None:
    ids = read_ids(secret_key, PREVIEW, token, 1)
    return ids[0] if ids else None


def opt_out_token(secret_key: str, contact_id: int, survey_id: int) -> str:
    """The token of an email's unsubscribe link; it never expires."""
    return sign_ids(secret_key, OPT_OUT, contact_id, survey_id)


def read_opt_out_token(secret_key: str, token: str) -> tuple[int, int] | None:
    """(contact id, survey id) of an opt-out token, or None."""
    ids = read_ids(secret_key, OPT_OUT, token, 2)
    return (ids[0], ids[1]) if ids else None
