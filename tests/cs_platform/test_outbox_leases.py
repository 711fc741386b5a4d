"""A batch that outlives its lease: the worker renews the lease of the rest of its batch as it
goes, and once another worker has taken a message over, the first one records nothing for it.

Both workers read one shared fake clock, as workers on machines with synchronised clocks do; the
second worker runs in a thread of its own, with its own app context and database session.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select

from cs_platform import outbox
from cs_platform.extensions import db
from cs_platform.models import Account, utcnow
from cs_platform.outbox import (
    LEASE_LOST,
    BatchResult,
    OutboxMessage,
    TransientDeliveryError,
    enqueue_many,
    outcome_update,
    process_batch,
    register_handler,
)
from tests.factories import AccountFactory

LEASE = 300
calls: list[tuple[str, str | None]] = []
slow_part: list[Callable[[OutboxMessage], None]] = []


class Clock:
    """utcnow() of the outbox, moved forward by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock(app: Flask, monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(outbox, "utcnow", fake)
    monkeypatch.setitem(app.config, "OUTBOX_LEASE_SECONDS", LEASE)
    return fake


def lease_probe(message: OutboxMessage) -> None:
    calls.append((message.payload["n"], message.leased_by))
    if message.leased_by == "w1":
        slow_part[0](message)


@pytest.fixture(autouse=True)
def probe_kind():
    register_handler("lease-probe", lease_probe)
    calls.clear()
    slow_part.clear()


def queue(*names: str) -> None:
    rows = [{"kind": "lease-probe", "payload": {"n": n}, "dedupe_key": n} for n in names]
    enqueue_many(rows)
    db.session.commit()


def other_worker(app: Flask, worker_id: str) -> BatchResult:
    """One batch of a second worker, with its own session, while the first is mid-batch."""
    results: list[BatchResult] = []

    def run() -> None:
        with app.app_context():
            results.append(process_batch(worker_id, 10))
            db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return results[0]


def outcomes() -> list[tuple]:
    query = select(
        OutboxMessage.status,
        OutboxMessage.attempts,
        OutboxMessage.last_error,
        OutboxMessage.leased_by,
    ).order_by(OutboxMessage.id)
    return [tuple(row) for row in db.session.execute(query)]


def test_a_worker_whose_lease_was_taken_over_cannot_overwrite_the_new_holders_result(app, clock):
    queue("a", "b")

    def times_out_after_the_lease_ran_out(message: OutboxMessage) -> None:
        if message.payload["n"] == "a":
            clock.advance(LEASE + 1)
            assert other_worker(app, "w2").outcomes == {"sent": 2}
            raise TransientDeliveryError("read timed out after 15 s")

    slow_part.append(times_out_after_the_lease_ran_out)

    result = process_batch("w1", 10)

    assert result.outcomes == {LEASE_LOST: 2}
    assert outcomes() == [("sent", 2, None, None), ("sent", 2, None, None)]
    assert calls == [("a", "w1"), ("a", "w2"), ("b", "w2")]  # w1 did not send b again


def test_the_writes_of_a_worker_whose_lease_was_taken_over_are_dropped_with_its_outcome(app, clock):
    account = AccountFactory(name="queued")

    def rename(message: OutboxMessage):
        if message.leased_by == "w1":
            clock.advance(LEASE + 1)
            assert other_worker(app, "w2").outcomes == {"sent": 1}
        renamed = f"sent by {message.leased_by}"
        return (outcome_update(Account, account.id, name=renamed),)

    register_handler("renaming", rename)
    enqueue_many([{"kind": "renaming", "payload": {}, "dedupe_key": "rename"}])
    db.session.commit()

    assert process_batch("w1", 10).outcomes == {LEASE_LOST: 1}
    assert outcomes() == [("sent", 2, None, None)]
    assert account.name == "sent by w2"


def test_a_slow_batch_renews_the_lease_of_the_messages_it_has_not_reached(app, clock):
    queue("a", "b")

    def takes_most_of_a_lease(message: OutboxMessage) -> None:
        clock.advance(LEASE * 0.6)
        if message.payload["n"] == "b":  # past the claim's lease, inside the renewed one
            assert other_worker(app, "w2").claimed == 0

    slow_part.append(takes_most_of_a_lease)

    assert process_batch("w1", 10).outcomes == {"sent": 2}
    assert outcomes() == [("sent", 1, None, None), ("sent", 1, None, None)]
    assert calls == [("a", "w1"), ("b", "w1")]


def test_a_worker_stopping_after_a_take_over_does_not_release_the_new_holders_messages(app, clock):
    queue("a", "b")

    def stalls_until_the_lease_ran_out(message: OutboxMessage) -> None:
        clock.advance(LEASE + 1)
        assert other_worker(app, "w2").outcomes == {"sent": 2}

    slow_part.append(stalls_until_the_lease_ran_out)
    # "b" is taken over by w2 while w1 delivers "a"; w1 is then told to stop before "b".
    process_batch("w1", 10, stopping=lambda: len(calls) >= 3)

    assert outcomes() == [("sent", 2, None, None), ("sent", 2, None, None)]
