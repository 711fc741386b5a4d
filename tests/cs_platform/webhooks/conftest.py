"""A real webhook receiver on 127.0.0.1 that verifies every delivery with the standardwebhooks
package, and helpers that run the outbox worker as production does."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import update
from standardwebhooks import Webhook
from werkzeug.wrappers import Request, Response

from cs_platform import outbox
from cs_platform.extensions import db
from cs_platform.webhooks.services import create_endpoint
from tests.local_servers import serve


@dataclass
class Receiver:
    """Answers with the next status of `plan` (then 200), after `delay` seconds; keeps every
    delivery that verified under one of `secrets`, and counts the ones that did not."""

    url: str = ""
    secrets: list[str] = field(default_factory=list)
    plan: list[int] = field(default_factory=list)
    delay: float = 0.0
    verified: list[dict] = field(default_factory=list)
    rejected: int = 0
    hits: int = 0
    arrived: list[float] = field(default_factory=list)  # time.monotonic() of each verified one
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        time.sleep(self.delay)
        with self.lock:
            self.hits += 1
            payload = self.verify(body, dict(request.headers))
            if payload is None:
                self.rejected += 1
                return Response("bad signature", status=400)(environ, start_response)
            status = self.plan.pop(0) if self.plan else 200
            if status == 200:
                self.verified.append(
                    {"id": request.headers["webhook-id"], "payload": payload, "raw": body}
                )
                self.arrived.append(time.monotonic())
        return Response(json.dumps({"ok": status == 200}), status=status)(environ, start_response)

    def verify(self, body: bytes, headers: dict[str, str]) -> dict | None:
        for secret in self.secrets:
            try:
                return Webhook(secret).verify(body, headers)
            except Exception:  # noqa: BLE001, S112 - try the receiver's next secret
                continue
        return None

    @property
    def ids(self) -> list[str]:
        return [item["id"] for item in self.verified]


def serve_receiver() -> Iterator[Receiver]:
    yield from serve(Receiver(), "/hooks")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver()


@pytest.fixture
def other_receiver() -> Iterator[Receiver]:
    yield from serve_receiver()


@pytest.fixture
def subscribe(app) -> Callable:
    """Register an endpoint for `receiver` (private addresses allowed) and hand it the secret."""

    def make(receiver: Receiver, events: list[str] | None = None):
        endpoint, secret = create_endpoint(
            receiver.url, events or ["health_score.changed"], allow_private=True
        )
        db.session.commit()
        receiver.secrets.append(secret)
        return endpoint

    return make


def run_outbox(rounds: int = 1) -> None:
    """Run the worker `rounds` times, making retries due at once in between (no waiting)."""
    for _ in range(rounds):
        db.session.execute(
            update(outbox.OutboxMessage)
            .where(outbox.OutboxMessage.status == "pending")
            .values(next_attempt_at=dt.datetime(2000, 1, 1))
        )
        db.session.commit()
        outbox.process_batch("test-worker", 500)
