"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the survey and browser tests: plain, STARTTLS
or implicit TLS with a certificate made at test time, optionally requiring a login, and recording
what a mail server's log would show (sessions, EHLOs, logins, TLS, arrival times)."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask

from cs_platform.mail import close_transport

MECHANISMS = ("LOGIN", "PLAIN")  # what aiosmtpd offers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Certificate:
    """A self-signed server certificate for 127.0.0.1 and localhost, as PEM files."""

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificate(folder: Path) -> Certificate:
    """A fresh key and certificate (valid for a day) under `folder`; its own CA, so a client
    that trusts the file verifies the server as it would a real one, host name included."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    made = Certificate(folder / "smtp-cert.pem", folder / "smtp-key.pem")
    made.cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    made.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return made


@dataclass(frozen=True)
class Received:
    """One message as the server took it: over which session, how secured, by whom."""

    message: EmailMessage
    peer: tuple[str, int]
    tls_version: str | None
    login: str | None
    at: float  # time.monotonic()


@dataclass
class SmtpSink:
    """Collects what the server received; addresses starting with "bounce" get a 550.

    `accounts` ({login: password}) are the logins the server accepts when it requires one.
    """

    received: list[Received] = field(default_factory=list)
    refuse_all: int | None = None  # a reply code to give every RCPT, e.g. 451
    accounts: dict[str, str] = field(default_factory=dict)
    logins: list[tuple[str, str, bool]] = field(default_factory=list)  # mechanism, login, ok
    ehlo_peers: list[tuple[str, int]] = field(default_factory=list)  # one per EHLO

    @property
    def messages(self) -> list[EmailMessage]:
        return [item.message for item in self.received]

    @property
    def sessions(self) -> int:
        """SMTP sessions that said EHLO (the controller's own readiness probe never does)."""
        return len(set(self.ehlo_peers))

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname  # the hook takes over what aiosmtpd does without one
        self.ehlo_peers.append(session.peer)
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: N802
        """With accounts, mail only from a session that logged in (aiosmtpd's own auth_required
        would warn about implicit TLS, a kind of session it does not recognise as secure)."""
        if self.accounts and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if self.refuse_all:
            return f"{self.refuse_all} try again later"
        if address.startswith("bounce"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        secured = server.transport.get_extra_info("ssl_object")
        login = session.auth_data.login.decode() if session.authenticated else None
        self.received.append(
            Received(
                message_from_bytes(envelope.content, policy=policy.default),
                session.peer,
                secured.version() if secured else None,
                login,
                time.monotonic(),
            )
        )
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        """aiosmtpd's authenticator: checks the login against `accounts`, and records it."""
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        accepted = login in self.accounts and self.accounts[login] == password
        self.logins.append((mechanism, login, accepted))
        return AuthResult(success=accepted, handled=False, auth_data=auth_data)


class SmtpServer:
    """An aiosmtpd server on a fixed port that a test can stop and start again.

    security: "plain", "starttls" (offered and required before MAIL) or "ssl" (implicit TLS);
    with `sink.accounts`, a login is required, by one of `mechanisms`.
    """

    def __init__(
        self,
        sink: SmtpSink,
        security: str = "plain",
        certificate: Certificate | None = None,
        mechanisms: tuple[str, ...] = MECHANISMS,
        idle_timeout: float = 300,
    ) -> None:
        self.sink, self.port, self.security = sink, free_port(), security
        self.certificate, self.mechanisms, self.idle_timeout = certificate, mechanisms, idle_timeout
        self.controller: Controller | None = None

    def start(self) -> None:
        options = {**self._tls_options(), **self._auth_options()}
        self.controller = Controller(
            self.sink, hostname="127.0.0.1", port=self.port, timeout=self.idle_timeout, **options
        )
        self.controller.start()

    def _tls_options(self) -> dict:
        if self.security == "plain":
            return {}
        assert self.certificate is not None, "a TLS server needs a certificate"
        context = self.certificate.server_context()
        if self.security == "ssl":
            # aiosmtpd only knows of sessions that said STARTTLS; this one is TLS throughout.
            return {"ssl_context": context, "auth_require_tls": False}
        return {"tls_context": context, "require_starttls": True}

    def _auth_options(self) -> dict:
        if not self.sink.accounts:
            return {}
        excluded = [mechanism for mechanism in MECHANISMS if mechanism not in self.mechanisms]
        return {"authenticator": self.sink.authenticate, "auth_exclude_mechanism": excluded}

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@contextlib.contextmanager
def smtp_server_for(app: Flask, server: SmtpServer, **config) -> Iterator[SmtpServer]:
    """Run `server` and send the app's mail to it over SMTP (with `config` on top) meanwhile."""
    settings = {
        "MAIL_TRANSPORT": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": server.port,
        "SMTP_SECURITY": server.security,
        **config,
    }
    saved = {key: app.config[key] for key in settings}
    server.start()
    app.config.update(settings)
    try:
        yield server
    finally:
        close_transport()
        app.config.update(saved)
        server.stop()
