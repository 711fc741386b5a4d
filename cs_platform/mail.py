"""The product's one way to send an email: the message type and the transports.

`transport()` is this thread's transport for the current settings, reused between messages:
"smtp" (plain, STARTTLS or SSL, optional auth, one connection reused across messages, an
optional rate in messages per second) or "file" (the embedded default: each message becomes
`<MAIL_DIR>/<message-id>.eml`, so the demo's mail can be opened and a retry overwrites, never
duplicates). SMTP 4xx replies and lost connections are transient; a 5xx reply to the recipient
is `RecipientRefusedError` (the address bounces). A refused login is transient too: it is the
sender's configuration, not the message, that is wrong, and the queued mail should go out once
it is fixed. Server certificates are verified against the system's CAs (OpenSSL's SSL_CERT_FILE
names another bundle, e.g. a private CA's). The outbox handlers that build messages live with
their domain (`surveys/mailer.py`, `cs_platform/auth/emails.py`).

`alternative_message` writes a multipart/alternative message of UTF-8 quoted-printable text
parts straight into its wire bytes, for mail sent by the hundred per second: the email
package's generator folds every header through `email.header.Header` and compiles a regular
expression per message to pick its boundary, about 0.8 ms of a survey email's 1.2 ms.
"""

from __future__ import annotations

import binascii
import contextlib
import functools
import re
import secrets
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Protocol

from flask import current_app

from cs_platform.outbox import PermanentDeliveryError, TransientDeliveryError


@dataclass(frozen=True)
class OutgoingEmail:
    """One message ready for the wire: envelope and bytes."""

    message_id: str
    sender: str
    recipient: str
    raw: bytes

    def message(self) -> EmailMessage:
        """The message as a mail client reads it (for previews and tests)."""
        return BytesParser(policy=policy.default).parsebytes(self.raw)


def mail_domain() -> str:
    return current_app.config["MAIL_FROM"].rpartition("@")[2] or "localhost"


CRLF = "\r\n"
HEADER_LINE_LENGTH = 78  # RFC 5322's recommended limit, where longer headers are folded


# Where email.header.Header may break a long printable ASCII value (its default split chars).
FOLDING_POINT = re.compile(r"[ \t;,]")


@functools.lru_cache(maxsize=1024)
def header_line(name: str, value: str) -> str:
    """`name: value`, folded when longer than a line and as RFC 2047 encoded words when not
    printable ASCII (line breaks in a value become folding, never a header of their own).
    Cached: a campaign's Subject and From repeat for every message."""
    if value.isascii() and value.isprintable():
        if len(name) + 2 + len(value) <= HEADER_LINE_LENGTH:
            return f"{name}: {value}"
        if FOLDING_POINT.search(value) is None:  # e.g. a URL: Header's own result, 15x sooner
            return f"{name}: {CRLF} {value}"
        encoded = Header(value, header_name=name)
    else:
        encoded = Header(value, "utf-8", header_name=name)
    return f"{name}: {encoded.encode(linesep=CRLF)}"


def quoted_printable(text: str) -> str:
    """UTF-8 `text` as quoted-printable with CRLF line ends (soft line breaks included)."""
    encoded = binascii.b2a_qp(text.replace(CRLF, "\n").encode(), istext=True)
    return encoded.decode("ascii").replace("\n", CRLF)


def alternative_message(headers: list[tuple[str, str]], parts: list[tuple[str, str]]) -> bytes:
    """The wire bytes of a multipart/alternative message: `headers` as (name, value), then one
    UTF-8 quoted-printable text part per (subtype, text) of `parts`, plainest first."""
    boundary = f"=_{secrets.token_hex(16)}"  # "=_" never occurs in quoted-printable text
    lines = [
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "MIME-Version: 1.0",
        *(header_line(name, value) for name, value in headers),
        "",
    ]
    for subtype, text in parts:
        lines += [
            f"--{boundary}",
            f'Content-Type: text/{subtype}; charset="utf-8"',
            "Content-Transfer-Encoding: quoted-printable",
            "",
            quoted_printable(text),
        ]
    lines += [f"--{boundary}--", ""]
    return CRLF.join(lines).encode("ascii")


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
