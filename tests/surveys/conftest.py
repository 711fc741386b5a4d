"""Survey fixtures: a real SMTP server (aiosmtpd) on 127.0.0.1 and helpers to plan campaigns."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from flask import Flask


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SmtpSink:
    """Collects what the server received; addresses starting with "bounce" get a 550."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse_all: int | None = None  # a reply code to give every RCPT, e.g. 451

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if self.refuse_all:
            return f"{self.refuse_all} try again later"
        if address.startswith("bounce"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


class SmtpServer:
    """An aiosmtpd server on a fixed port that a test can stop and start again."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink, self.port = sink, free_port()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server(app: Flask) -> Iterator[SmtpServer]:
    """An aiosmtpd server; the app sends to it over SMTP for the duration of the test."""
    server = SmtpServer(SmtpSink())
    server.start()
    saved = {key: app.config[key] for key in ("MAIL_TRANSPORT", "SMTP_HOST", "SMTP_PORT")}
    app.config.update(MAIL_TRANSPORT="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=server.port)
    yield server
    app.config.update(saved)
    server.stop()


@pytest.fixture
def smtp_sink(smtp_server: SmtpServer) -> SmtpSink:
    return smtp_server.sink
