"""The generic outbox: queued in the caller's transaction, leased, retried with back-off."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cs_platform.extensions import db
from cs_platform.models import Account, utcnow
from cs_platform.outbox import (
    DeliveryCancelledError,
    DeliveryDeferredError,
    OutboxMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    claim_batch,
    enqueue,
    enqueue_many,
    exponential_backoff,
    outcome_update,
    process_batch,
    register_handler,
)
from tests.factories import AccountFactory

delivered: list[dict] = []
OUTCOMES = {
    "transient": TransientDeliveryError("451 try later"),
    "throttled": TransientDeliveryError("429 slow down", retry_after=7),
    "permanent": PermanentDeliveryError("550 no such user"),
    "cancel": DeliveryCancelledError("unsubscribed"),
    "defer": DeliveryDeferredError("paused", seconds=600),
    "crash": RuntimeError("bug"),
}


def probe_handler(message: OutboxMessage) -> None:
    outcome = message.payload.get("outcome")
    if outcome in OUTCOMES:
        raise OUTCOMES[outcome]
    delivered.append(message.payload)


@pytest.fixture(autouse=True)
def probe_kind():
    register_handler("probe", probe_handler, backoff_schedule=[60, 240])
    delivered.clear()


def queue(dedupe_key: str, **payload) -> OutboxMessage:
    message = enqueue("probe", payload, dedupe_key)
    db.session.commit()
    return message


def test_a_queued_message_is_delivered_once_and_marked_sent(app):
    message = queue("m1", n=1)
    result = process_batch("w1")
    assert result.outcomes == {"sent": 1}
    db.session.refresh(message)
    assert message.status == "sent" and message.sent_at is not None and message.attempts == 1
    assert process_batch("w1").claimed == 0
    assert delivered == [{"n": 1}]


def test_nothing_is_queued_when_the_caller_rolls_back(app):
    enqueue("probe", {}, "rolled-back")
    db.session.rollback()
    assert process_batch("w1").claimed == 0


def test_the_same_dedupe_key_cannot_be_queued_twice(app):
    queue("same")
    enqueue("probe", {}, "same")
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    rows = [{"kind": "probe", "payload": {}, "dedupe_key": key} for key in ("same", "new")]
    assert enqueue_many(rows) == 1


def test_transient_failures_back_off_then_the_message_dies(app):
    message = queue("t", outcome="transient")
    process_batch("w1")
    db.session.refresh(message)
    assert message.status == "pending" and message.last_error == "451 try later"
    wait = message.next_attempt_at - utcnow()
    assert dt.timedelta(seconds=55) < wait <= dt.timedelta(seconds=60)
    assert process_batch("w1").claimed == 0  # not due yet
    for expected in ("pending", "dead"):
        db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        db.session.commit()
        process_batch("w1")
        db.session.refresh(message)
        assert message.status == expected
    assert message.attempts == 3


def test_a_receivers_retry_after_replaces_the_back_off_step_but_still_uses_an_attempt(app):
    message = queue("r", outcome="throttled")
    app.config["OUTBOX_BACKOFF_PERCENT"] = 10  # scales the schedule, never the receiver's word
    try:
        process_batch("w1")
    finally:
        app.config["OUTBOX_BACKOFF_PERCENT"] = 100
    db.session.refresh(message)
    assert message.status == "pending" and message.attempts == 1
    wait = message.next_attempt_at - utcnow()
    assert dt.timedelta(seconds=5) < wait <= dt.timedelta(seconds=7)
    for expected in ("pending", "dead"):
        db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        db.session.commit()
        process_batch("w1")
        db.session.refresh(message)
        assert message.status == expected


def test_permanent_failures_and_cancellations_are_never_retried(app):
    failed = queue("p", outcome="permanent")
    cancelled = queue("c", outcome="cancel")
    assert process_batch("w1").outcomes == {"failed": 1, "cancelled": 1}
    db.session.refresh(failed)
    db.session.refresh(cancelled)
    assert failed.last_error == "550 no such user" and cancelled.status == "cancelled"


def test_a_deferred_message_waits_without_using_an_attempt(app):
    message = queue("d", outcome="defer")
    process_batch("w1")
    db.session.refresh(message)
    assert message.status == "pending" and message.attempts == 0
    assert message.next_attempt_at > utcnow() + dt.timedelta(seconds=590)


def test_a_crashing_handler_is_retried_and_the_worker_goes_on(app):
    crash = queue("x", outcome="crash")
    queue("ok")
    assert process_batch("w1").outcomes == {"pending": 1, "sent": 1}
    db.session.refresh(crash)
    assert "RuntimeError: bug" in crash.last_error


def test_a_lease_held_by_a_crashed_worker_expires_and_the_message_is_claimed_again(app):
    message = queue("lease")
    [claimed] = claim_batch("crashed-worker", 10)
    assert claimed.leased_by == "crashed-worker"
    assert claim_batch("w2", 10) == []
    db.session.execute(update(OutboxMessage).values(lease_until=utcnow() - dt.timedelta(seconds=1)))
    db.session.commit()
    [again] = claim_batch("w2", 10)
    assert again.id == message.id and again.attempts == 2


def renaming_handler(message: OutboxMessage):
    """Returns its change, for the outbox to write with the outcome."""
    return (outcome_update(Account, message.payload["account"], name="sent"),)


def test_the_writes_a_handler_returns_are_committed_with_its_sent_outcome(app):
    register_handler("renaming", renaming_handler)
    account = AccountFactory(name="queued")
    enqueue("renaming", {"account": account.id}, "rename")
    db.session.commit()
    queued_at = account.updated_at
    assert process_batch("w1").outcomes == {"sent": 1}
    assert account.name == "sent"  # the batch's rows are read again after it
    assert account.updated_at > queued_at  # onupdate defaults run, in a CTE too


def test_a_batch_keeps_one_connection_from_its_first_message_to_its_last(app):
    for number in range(5):
        queue(f"kept-{number}", n=number, outcome="transient" if number == 2 else None)
    checkouts: list[object] = []
    listener = lambda *_: checkouts.append(True)  # noqa: E731
    event.listen(db.engine, "checkout", listener)
    try:
        assert process_batch("w1").outcomes == {"sent": 4, "pending": 1}
    finally:
        event.remove(db.engine, "checkout", listener)
    assert len(checkouts) == 3  # the claim's two (lease, then load), the batch's one
    statuses = db.session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id))
    assert list(statuses) == ["sent", "sent", "pending", "sent", "sent"]


def test_exponential_backoff_grows_by_the_factor():
    assert exponential_backoff(10, 3, 4) == [10, 30, 90, 270]


@pytest.mark.postgres
def test_concurrent_workers_on_postgresql_never_claim_the_same_row(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("FOR UPDATE SKIP LOCKED is PostgreSQL's")
    enqueue_many([{"kind": "probe", "payload": {}, "dedupe_key": f"k{i}"} for i in range(40)])
    db.session.commit()
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        with app.app_context():
            barrier.wait()
            claimed[name] = [m.id for m in claim_batch(name, 15)]
            db.session.remove()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [i for batch in claimed.values() for i in batch]
    assert len(ids) == len(set(ids)) == 40
    with Session(db.engine) as session:
        assert session.query(OutboxMessage).filter_by(status="sending").count() == 40


def test_the_cli_delivers_one_batch(app, runner):
    queue("cli")
    result = runner.invoke(args=["outbox", "work", "--once", "--batch", "5"])
    assert result.exit_code == 0, result.output
    assert "delivered 1 message(s)" in result.output
