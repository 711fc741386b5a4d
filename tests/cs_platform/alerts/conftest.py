"""Fakes of Slack's and Microsoft Teams' incoming webhooks as real HTTP servers on 127.0.0.1,
speaking their contracts, the real SMTP server, and helpers that run the real outbox worker."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from flask import Flask
from sqlalchemy import select, update
from werkzeug.wrappers import Request, Response

from cs_platform import outbox
from cs_platform.alerts.services import PreferenceChanges, save_preferences
from cs_platform.extensions import db
from cs_platform.models import User
from tests.local_servers import serve
from tests.surveys.smtp import SmtpServer, SmtpSink, smtp_server_for

# What the real services answer (Slack: api.slack.com/messaging/webhooks, "Handling errors").
SLACK_OK = (200, "ok", {})
TEAMS_OK = (200, "1", {})


@dataclass
class FakeWebhook:
    """An incoming webhook: answers each POST with the next (status, body, headers) of `plan`,
    then with `ok`; keeps every JSON body it accepted."""

    ok: tuple[int, str, dict[str, str]]
    url: str = ""
    plan: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)
    hits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            self.hits += 1
            status, body, headers = self.plan.pop(0) if self.plan else self.ok
            if request.content_type != "application/json":
                status, body, headers = 400, "invalid_payload", {}
            elif (status, body) == self.ok[:2] or status == 202:
                self.received.append(json.loads(request.get_data()))
        return Response(body, status=status, headers=headers, content_type="text/html")(
            environ, start_response
        )


@pytest.fixture
def private_targets(app: Flask) -> Iterator[None]:
    """Let webhook URLs point at 127.0.0.1, as ALERTS_ALLOW_PRIVATE_HOSTS=1 does."""
    app.config["ALERTS_ALLOW_PRIVATE_HOSTS"] = True
    yield
    app.config["ALERTS_ALLOW_PRIVATE_HOSTS"] = False


@pytest.fixture
def slack(private_targets) -> Iterator[FakeWebhook]:
    yield from serve(FakeWebhook(SLACK_OK), "/services/T0001/B0001/s3cr3tS1ackT0ken")


@pytest.fixture
def teams(private_targets) -> Iterator[FakeWebhook]:
    yield from serve(FakeWebhook(TEAMS_OK), "/webhookb2/s3cr3t-teams-token/IncomingWebhook/x")


@pytest.fixture
def smtp_sink(app: Flask) -> Iterator[SmtpSink]:
    with smtp_server_for(app, SmtpServer(SmtpSink())) as server:
        yield server.sink


def prefer(user: User, **changes) -> None:
    """Save alert preferences for `user` as the settings page does, and commit."""
    defaults = {
        "channels": {"rule": ["email"], "escalation": ["email"], "task_assigned": ["email"]},
        "quiet_start": None,
        "quiet_end": None,
        "timezone": "",
        "paused": False,
    }
    save_preferences(user, PreferenceChanges(**(defaults | changes)))
    db.session.commit()


def messages() -> list[outbox.OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(outbox.OutboxMessage).order_by(outbox.OutboxMessage.id)))


def run_outbox(rounds: int = 1) -> None:
    """Run the real worker `rounds` times, making retries due at once in between."""
    for _ in range(rounds):
        db.session.execute(
            update(outbox.OutboxMessage)
            .where(outbox.OutboxMessage.status == "pending")
            .values(next_attempt_at=dt.datetime(2000, 1, 1))
        )
        db.session.commit()
        outbox.process_batch("test-worker", 500)


@pytest.fixture
def csm(make_user) -> User:
    return make_user("csm", email="casey@example.com")
