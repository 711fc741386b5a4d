"""The "email" handler of the outbox, and the mail transports it sends through.

Transports: "smtp" (plain, STARTTLS or SSL, optional auth, one connection reused across messages,
an optional rate in messages per second) and "file" (the embedded default: each message becomes
`<MAIL_DIR>/<message-id>.eml`, so the demo's mail can be opened and a retry overwrites, never
duplicates). SMTP 4xx replies and lost connections are transient; a 5xx reply to the recipient
marks the contact as bouncing and fails the message for good. A refused login is transient too:
it is the sender's configuration, not the message, that is wrong, and the queued mail should go
out once it is fixed. Server certificates are verified against the system's CAs (OpenSSL's
SSL_CERT_FILE names another bundle, e.g. a private CA's).
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
import threading
import time
from pathlib import Path
from typing import Protocol

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.outbox import (
    DeliveryCancelledError,
    DeliveryDeferredError,
    OutboxMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    register_handler,
)
from surveys.emails import OutgoingEmail, build_email, invitation_email, mail_domain
from surveys.models import Campaign, Invitation
from surveys.tokens import preview_token

_local = threading.local()


class RecipientRefusedError(PermanentDeliveryError):
    """The server refused the recipient with a 5xx reply: the address bounces."""


class Transport(Protocol):
    def send(self, email: OutgoingEmail) -> None: ...


class FileTransport:
    """Writes each message to `<directory>/<message-id>.eml`."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def send(self, email: OutgoingEmail) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", email.message_id.strip("<>"))
        temporary = self.directory / f".{name}.tmp"
        temporary.write_bytes(email.raw)
        temporary.replace(self.directory / f"{name}.eml")  # atomic: readers never see half


PLAIN_AUTH_REFUSED = (
    "SMTP_SECURITY=plain would send SMTP_USERNAME's password in clear text: use starttls or "
    "ssl, or set SMTP_ALLOW_PLAIN_AUTH=1 for a relay on a trusted network"
)


class SmtpTransport:
    """One reused SMTP connection, paced to at most `rate` messages per second (0: no pacing)."""

    def __init__(
        self,
        host: str,
        port: int,
        security: str = "plain",
        *,
        credentials: tuple[str, str] | None = None,
        timeout: int = 30,
        rate: int = 0,
        allow_plain_auth: bool = False,
    ) -> None:
        if security not in ("plain", "starttls", "ssl"):
            raise ValueError(f"SMTP_SECURITY={security!r}: use plain, starttls or ssl")
        self.host, self.port, self.security = host, port, security
        self.allow_plain_auth = allow_plain_auth
        self.credentials, self.timeout = credentials, timeout
        self.interval = 1 / rate if rate else 0.0
        self._connection: smtplib.SMTP | None = None
        self._last_send = 0.0

    def send(self, email: OutgoingEmail) -> None:
        self._pace()
        reused = self._connection is not None
        try:
            self._send_once(email)
        except smtplib.SMTPServerDisconnected:
            self.close()
            if not reused:
                raise TransientDeliveryError("SMTP server closed the connection") from None
            self._send_once(email)  # an idle reused connection timed out: one fresh try

    def _send_once(self, email: OutgoingEmail) -> None:
        try:
            self._connect().sendmail(email.sender, [email.recipient], email.raw)
        except smtplib.SMTPAuthenticationError as error:
            raise TransientDeliveryError(self._login_refused(error)) from None
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            raise _classify(code, reply, recipient=True) from error
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            raise _classify(error.smtp_code, error.smtp_error, recipient=False) from error
        except smtplib.SMTPServerDisconnected:
            raise
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise TransientDeliveryError(f"SMTP {self.host}:{self.port}: {error}") from error
        finally:
            self._last_send = time.monotonic()

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        context = ssl.create_default_context()
        if self.security == "ssl":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            self._greet(connection, context)
        except BaseException:
            connection.close()  # a refused login or handshake must not leak the socket
            raise
        self._connection = connection
        return connection

    def _greet(self, connection: smtplib.SMTP, context: ssl.SSLContext) -> None:
        connection.ehlo()
        if self.security == "starttls":
            connection.starttls(context=context)
            connection.ehlo()
        if self.credentials:
            if self.security == "plain" and not self.allow_plain_auth:
                raise TransientDeliveryError(PLAIN_AUTH_REFUSED)
            connection.login(*self.credentials)

    def _login_refused(self, error: smtplib.SMTPAuthenticationError) -> str:
        """Names the server, the login and the reply; never the password, which the reply
        does not hold either (it is the server's text, not what was sent)."""
        username = self.credentials[0] if self.credentials else ""
        return (
            f"SMTP {self.host}:{self.port} refused the login of {username!r} "
            f"({_reply_text(error.smtp_code, error.smtp_error)}): "
            "check SMTP_USERNAME and SMTP_PASSWORD"
        )

    def _pace(self) -> None:
        wait = self._last_send + self.interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):  # gone either way
                self._connection.quit()
            self._connection = None


def _reply_text(code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return f"SMTP {code}: {text}"


def _classify(code: int, reply: bytes | str, *, recipient: bool) -> Exception:
    message = _reply_text(code, reply)
    if 400 <= code < 500:
        return TransientDeliveryError(message)
    return RecipientRefusedError(message) if recipient else PermanentDeliveryError(message)


def transport() -> Transport:
    """The transport of this thread for the current configuration (reused between messages)."""
    config = current_app.config
    credentials = (
        (config["SMTP_USERNAME"], config["SMTP_PASSWORD"]) if config["SMTP_USERNAME"] else None
    )
    key = (
        config["MAIL_TRANSPORT"],
        config["MAIL_DIR"],
        config["SMTP_HOST"],
        config["SMTP_PORT"],
        config["SMTP_SECURITY"],
        credentials,
    )
    cached = getattr(_local, "transport", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    close_transport()
    if config["MAIL_TRANSPORT"] == "smtp":
        made: Transport = SmtpTransport(
            config["SMTP_HOST"],
            config["SMTP_PORT"],
            config["SMTP_SECURITY"],
            credentials=credentials,
            timeout=config["SMTP_TIMEOUT"],
            rate=config["SMTP_RATE_PER_SECOND"],
            allow_plain_auth=config["SMTP_ALLOW_PLAIN_AUTH"],
        )
    elif config["MAIL_TRANSPORT"] == "file":
        made = FileTransport(config["MAIL_DIR"])
    else:
        raise PermanentDeliveryError(f"MAIL_TRANSPORT={config['MAIL_TRANSPORT']!r}: smtp or file")
    _local.transport = (key, made)
    return made


def close_transport() -> None:
    """Say QUIT on this thread's SMTP connection, if it has one, and forget the transport: for
    a worker that stops, or a test whose server goes away."""
    cached = getattr(_local, "transport", None)
    _local.transport = None
    if cached is not None and isinstance(cached[1], SmtpTransport):
        cached[1].close()


def deliver_email(message: OutboxMessage) -> None:
    """Outbox handler for kind "email": an invitation, a reminder or a test to a colleague."""
    payload = message.payload
    if payload["template"] == "test":
        _send_test(message.id, payload)
        return
    invitation = db.session.get(Invitation, payload["invitation_id"])
    reminder = payload["template"] == "reminder"
    _check_still_wanted(invitation, reminder=reminder)
    try:
        transport().send(invitation_email(invitation, payload.get("number", 0)))
    except RecipientRefusedError:
        invitation.status = "bounced"
        invitation.contact.bounced_at = utcnow()
        raise
    now = utcnow()
    if not reminder:
        invitation.status, invitation.sent_at = "sent", now
    invitation.contact.last_surveyed_at = now


def _send_test(message_id: int, payload: dict) -> None:
    """payload: {"template": "test", "campaign_id", "to", "name"}; the links open the real
    pages in preview mode, which records nothing."""
    campaign = db.session.get(Campaign, payload["campaign_id"])
    if campaign is None:
        raise DeliveryCancelledError("campaign deleted")
    recipient = (payload["name"], payload["to"])
    token = preview_token(current_app.config["SECRET_KEY"], campaign.id)
    email = build_email(
        campaign.survey, campaign, recipient, None, token,
        message_id=f"<survey-test-{message_id}@{mail_domain()}>", test=True,
    )  # fmt: skip
    transport().send(email)


def _check_still_wanted(invitation: Invitation | None, *, reminder: bool) -> None:
    """Cancel or defer mail that should not go out (any more, or not yet)."""
    if invitation is None:
        raise DeliveryCancelledError("invitation deleted")
    contact = invitation.contact
    if contact.unsubscribed_at is not None or contact.bounced_at is not None:
        invitation.status = "cancelled" if invitation.status == "scheduled" else invitation.status
        raise DeliveryCancelledError("contact unsubscribed or bouncing")
    if invitation.expires_at <= utcnow() or invitation.status in ("answered", "cancelled"):
        raise DeliveryCancelledError(f"invitation {invitation.status} or expired")
    if reminder and invitation.answered_at is not None:
        raise DeliveryCancelledError("already answered")
    if invitation.campaign.status == "paused":
        raise DeliveryDeferredError("campaign paused", seconds=3600)


def prefetch_invitations(messages: list[OutboxMessage]) -> list[Invitation]:
    """Load a batch's invitations with their contacts, campaigns and surveys in four queries."""
    ids = [m.payload["invitation_id"] for m in messages if "invitation_id" in m.payload]
    query = (
        select(Invitation)
        .where(Invitation.id.in_(ids))
        .options(
            selectinload(Invitation.contact),
            selectinload(Invitation.campaign).selectinload(Campaign.survey),
        )
    )
    return list(db.session.scalars(query)) if ids else []


register_handler("email", deliver_email, prefetch=prefetch_invitations)
