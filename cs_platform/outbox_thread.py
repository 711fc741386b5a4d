"""Outbox delivery inside the web process, for the embedded default (`make run`).

With SCHEDULER_ENABLED the web process also runs one delivery thread, so a campaign's emails
and a "Send a test" leave within a second or two without a separate `flask outbox work`.
It is an ordinary outbox worker: it claims under leases with fenced writes (cs_platform.outbox),
so it never double-delivers, even beside dedicated workers or other web processes. One thread
per process, started once: gunicorn's threads share it. It stops at interpreter exit, finishing
the message in hand and releasing the rest of its batch.
"""

from __future__ import annotations

import atexit
import logging
import threading

from flask import Flask

from cs_platform.outbox import LanePool, default_worker_id, process_batch

log = logging.getLogger(__name__)

IDLE_SECONDS = 1.0  # wait between polls of an empty outbox: how soon new mail leaves
ERROR_SECONDS = 10.0  # wait after a failed batch (e.g. the database is restarting)
STOP_SECONDS = 30.0  # how long exit waits for the message in hand
_state: dict[str, DeliveryThread] = {}


class DeliveryThread(threading.Thread):
    """Delivers outbox batches until stopped; a failed batch is logged and tried again."""

    def __init__(self, app: Flask, idle_seconds: float = IDLE_SECONDS, batch: int = 100) -> None:
        super().__init__(name="outbox-delivery", daemon=True)
        self.app, self.idle_seconds, self.batch = app, idle_seconds, batch
        # Unique per thread, as fenced writes require; host:pid alone is shared with a CLI worker.
        self.worker_id = f"{default_worker_id()}:web"
        self.stopping = threading.Event()
        self.lanes = LanePool(app, self.worker_id, self.stopping.is_set)

    def run(self) -> None:
        log.info("outbox delivery started in-process", extra={"worker": self.worker_id})
        while not self.stopping.is_set():
            claimed = self.deliver_one_batch()
            if claimed is None:
                self.stopping.wait(ERROR_SECONDS)
            elif claimed == 0:
                self.stopping.wait(self.idle_seconds)
        self.lanes.wait()  # each lane finishes its message in hand and releases the rest

    def deliver_one_batch(self) -> int | None:
        """Messages claimed by one batch, or None when the batch failed."""
        try:
            with self.app.app_context():
                result = process_batch(
                    self.worker_id, self.batch, stopping=self.stopping.is_set, lanes=self.lanes
                )
        except Exception:
            log.exception("outbox delivery batch failed", extra={"worker": self.worker_id})
            return None
        return result.claimed

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        self.stopping.set()
        self.join(timeout)


def start_delivery_thread(app: Flask) -> DeliveryThread:
    """Start this process's delivery thread, or return the one already running."""
    running = running_delivery_thread()
    if running is not None:
        return running
    thread = DeliveryThread(app)
    thread.start()
    _state["thread"] = thread
    atexit.register(stop_delivery_thread)
    return thread


def running_delivery_thread() -> DeliveryThread | None:
    thread = _state.get("thread")
    return thread if thread is not None and thread.is_alive() else None


def stop_delivery_thread() -> None:
    """Stop the delivery thread, if one runs (at exit, and for tests)."""
    thread = _state.pop("thread", None)
    if thread is not None:
        thread.stop()
