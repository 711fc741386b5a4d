"""Outbox workers killed with -9 and an SMTP server that goes away: nothing is lost, and a
message is sent twice only when it was in flight at the moment of the fault."""

from __future__ import annotations

import signal
import time

import pytest

from cs_platform.extensions import db
from cs_platform.outbox import enqueue_many
from tests.factories import CampaignFactory
from tests.faults.conftest import CountingSmtpServer, FaultDatabase, Processes, wait_for

pytestmark = pytest.mark.postgres

BATCH = 25  # messages one worker claims at a time


def queue_emails(count: int) -> None:
    """`count` test emails of one campaign, queued set-wise like a campaign's send."""
    campaign = CampaignFactory()
    rows = [
        {
            "kind": "email",
            "payload": {
                "template": "test",
                "campaign_id": campaign.id,
                "to": f"person{number}@customer.example",
                "name": f"Person {number}",
            },
            "dedupe_key": f"fault:{number}",
        }
        for number in range(count)
    ]
    assert enqueue_many(rows) == count
    db.session.commit()


def worker_env(fault_db: FaultDatabase, smtp: CountingSmtpServer, **extra) -> dict[str, str]:
    settings = {"SMTP_PORT": smtp.port, "SMTP_TIMEOUT": 5, "OUTBOX_LEASE_SECONDS": 8,
                "WEBHOOK_TIMEOUT_SECONDS": 3}  # fmt: skip
    return fault_db.env(MAIL_TRANSPORT="smtp", SMTP_HOST="127.0.0.1", **{**settings, **extra})


def start_worker(processes: Processes, name: str, env: dict[str, str]):
    args = ["outbox", "work", "--batch", str(BATCH), "--worker-id", name]
    return processes.start(name, args, env)


def statuses(fault_db: FaultDatabase) -> dict[str, int]:
    rows = fault_db.rows("SELECT status, count(*) FROM outbox_messages GROUP BY status")
    return dict(rows)  # type: ignore[arg-type]


def sent(fault_db: FaultDatabase) -> int:
    return statuses(fault_db).get("sent", 0)


def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_only_its_message_in_flight(
    fault_db, processes, counting_smtp
):
    total = 5000
    queue_emails(total)
    env = worker_env(fault_db, counting_smtp)
    victim = start_worker(processes, "worker-a", env)
    start_worker(processes, "worker-b", env)
    wait_for(lambda: sent(fault_db) >= 1000, 90, "1,000 messages sent")

    processes.kill(victim)
    held = fault_db.scalar(
        "SELECT count(*) FROM outbox_messages WHERE status = 'sending' AND leased_by = 'worker-a'"
    )
    start_worker(processes, "worker-c", env)
    wait_for(lambda: sent(fault_db) == total, 120, "every message sent")

    reclaimed = fault_db.scalar("SELECT count(*) FROM outbox_messages WHERE attempts > 1")
    print(  # the figures of the note (pytest -s)
        f"\noutbox kill -9: {total} queued, {counting_smtp.sink.unique()} distinct delivered, "
        f"{counting_smtp.sink.duplicates()} duplicate(s), {held} held by the killed worker, "
        f"{reclaimed} re-claimed after its lease expired"
    )
    assert statuses(fault_db) == {"sent": total}
    assert counting_smtp.sink.unique() == total
    # Each message commits as sent right after SMTP accepted it: only the one message the dead
    # worker was sending can have reached the server without being marked sent.
    assert counting_smtp.sink.duplicates() <= 1
    assert held is not None and held <= BATCH
    assert reclaimed <= BATCH


SMTP_OUTAGE_SECONDS = 60


def test_an_smtp_outage_under_load_loses_nothing(fault_db, processes, counting_smtp):
    total = 2000
    queue_emails(total)
    # Retry waits at 1% of the schedule: 0.3 s, 1.2 s, 4.8 s, 19 s, 77 s; a message that failed
    # all through the outage is tried again at most about 80 s after the server is back.
    env = worker_env(fault_db, counting_smtp, OUTBOX_BACKOFF_PERCENT=1)
    start_worker(processes, "worker-a", env)
    start_worker(processes, "worker-b", env)
    wait_for(lambda: sent(fault_db) >= 300, 90, "300 messages sent")

    counting_smtp.stop()
    time.sleep(SMTP_OUTAGE_SECONDS)
    during = statuses(fault_db)
    counting_smtp.start()
    wait_for(lambda: sent(fault_db) == total, 180, "every message sent after the outage")

    retried = fault_db.scalar("SELECT count(*) FROM outbox_messages WHERE attempts > 1")
    print(
        f"\nSMTP outage {SMTP_OUTAGE_SECONDS} s: {total} queued, "
        f"statuses during the outage {during}, "
        f"{retried} message(s) retried, {counting_smtp.sink.unique()} distinct delivered, "
        f"{counting_smtp.sink.duplicates()} duplicate(s)"
    )
    assert during.get("pending", 0) > 0, "the outage should have made some deliveries wait"
    assert statuses(fault_db) == {"sent": total}
    assert counting_smtp.sink.unique() == total
    assert counting_smtp.sink.duplicates() <= 2  # at most the message in flight per worker


def test_sigterm_finishes_the_current_message_and_releases_the_rest_of_the_batch(
    fault_db, processes, counting_smtp
):
    queue_emails(200)
    env = worker_env(fault_db, counting_smtp, OUTBOX_LEASE_SECONDS=600, SMTP_RATE_PER_SECOND=40)
    worker = start_worker(processes, "worker-a", env)
    wait_for(lambda: sent(fault_db) >= 5, 90, "the first messages sent")

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0, processes.log_of(worker)

    # Released messages are due again at once, though the lease would have held them 10 min.
    assert fault_db.scalar("SELECT count(*) FROM outbox_messages WHERE status = 'sending'") == 0
    done = sent(fault_db)
    assert counting_smtp.sink.unique() == done
    assert fault_db.scalar("SELECT max(attempts) FROM outbox_messages") == 1
    start_worker(processes, "worker-b", worker_env(fault_db, counting_smtp))
    wait_for(lambda: sent(fault_db) == 200, 90, "the rest sent by the next worker")
    assert counting_smtp.sink.duplicates() == 0
