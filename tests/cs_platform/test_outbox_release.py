"""A worker asked to stop hands the unstarted rest of its batch back, due at once."""

from __future__ import annotations

from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.outbox import OutboxMessage, enqueue_many, process_batch, register_handler

handled: list[int] = []


def counting_handler(message: OutboxMessage) -> None:
    handled.append(message.payload["n"])


def test_stopping_mid_batch_releases_the_messages_not_yet_started(app):
    register_handler("release-probe", counting_handler)
    handled.clear()
    rows = [{"kind": "release-probe", "payload": {"n": n}, "dedupe_key": f"r{n}"} for n in range(5)]
    enqueue_many(rows)
    db.session.commit()

    result = process_batch("w1", 5, stopping=lambda: len(handled) >= 2)

    assert (result.claimed, handled) == (2, [0, 1])
    released = db.session.execute(
        select(OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.leased_by).where(
            OutboxMessage.status != "sent"
        )
    ).all()
    assert released == [("pending", 0, None)] * 3
    assert process_batch("w2", 5).claimed == 3
    assert handled == [0, 1, 2, 3, 4]
