"""Outbox delivery in the web process: what makes `make run` send its mail without a worker."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from cs_platform.extensions import db
from cs_platform.outbox import OutboxMessage, enqueue, register_handler
from cs_platform.outbox_thread import (
    DeliveryThread,
    running_delivery_thread,
    start_delivery_thread,
    stop_delivery_thread,
)
from cs_platform.scheduler import start_scheduler_if_enabled, stop_in_process_scheduler
from tests.factories import CampaignFactory

deliveries: Counter[str] = Counter()


def count_delivery(message: OutboxMessage) -> None:
    deliveries[message.dedupe_key] += 1


def wait_until(condition: Callable[[], object], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def status_of(message: OutboxMessage) -> str:
    db.session.rollback()  # end the read transaction: see what the delivery thread committed
    return db.session.get(OutboxMessage, message.id).status


@pytest.fixture
def mail_dir(app: Flask, tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setitem(app.config, "MAIL_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def delivery_threads(app: Flask) -> Iterator[Callable[[], DeliveryThread]]:
    """Starts delivery threads on demand; stops them before the tables are emptied."""
    started: list[DeliveryThread] = []

    def start() -> DeliveryThread:
        thread = DeliveryThread(app, idle_seconds=0.05)
        thread.start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.stop()


def queue_test_email(campaign_id: int) -> OutboxMessage:
    """What "Send a test" on a campaign's preview queues."""
    payload = {"template": "test", "campaign_id": campaign_id, "to": "ada@example.com"}
    message = enqueue("email", payload | {"name": "Ada"}, f"test:{campaign_id}:ada")
    db.session.commit()
    return message


def test_a_queued_email_is_written_to_the_mail_folder_within_seconds(
    app, mail_dir, delivery_threads
):
    delivery_threads()
    message = queue_test_email(CampaignFactory().id)
    queued = time.monotonic()
    assert wait_until(lambda: list(mail_dir.glob(f"survey-test-{message.id}_*.eml")), 5)
    assert time.monotonic() - queued < 5
    assert wait_until(lambda: status_of(message) == "sent", 5)  # committed just after the write


def test_two_delivery_threads_deliver_every_message_exactly_once(app, delivery_threads):
    register_handler("count", count_delivery)
    deliveries.clear()
    keys = [f"count:{n}" for n in range(60)]
    for key in keys:
        enqueue("count", {}, key)
    db.session.commit()
    delivery_threads(), delivery_threads()
    assert wait_until(lambda: sum(deliveries.values()) >= len(keys), 20)
    time.sleep(0.3)  # a double delivery would show up by now
    assert deliveries == Counter(keys)


def test_delivery_starts_with_the_in_process_scheduler_once_per_process(app, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_ENABLED", True)
    try:
        start_scheduler_if_enabled(app)
        thread = running_delivery_thread()
        assert thread is not None and thread.is_alive()
        assert start_delivery_thread(app) is thread
    finally:
        stop_in_process_scheduler()
        stop_delivery_thread()
    assert running_delivery_thread() is None


def test_no_delivery_runs_in_a_process_without_the_scheduler(app):
    assert app.config["SCHEDULER_ENABLED"] is False
    start_scheduler_if_enabled(app)
    assert running_delivery_thread() is None
