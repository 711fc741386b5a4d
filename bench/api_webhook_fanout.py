"""Webhook fan-out: 10,000 events to two receivers, one failing 30% of the time.

Creates a scratch PostgreSQL database, registers two endpoints on 127.0.0.1, publishes the events
in one transaction (one set-wise insert of deliveries and outbox rows), then runs outbox workers
(separate processes claiming with FOR UPDATE SKIP LOCKED) until every delivery has succeeded.
The receivers verify every request with the standardwebhooks package and count, per webhook-id,
the deliveries they accepted. The back-off schedule is compressed to a few seconds so retries
happen within the run (production waits 5 s, 5 min, 30 min, ...).

    .venv/bin/python bench/api_webhook_fanout.py --events 10000 --workers 4

Prints the time until all were delivered, attempts, lost (expected 0) and duplicates.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess

import requests
from api_common import add_port_option, exit_cleanly_on_signals, port_or_free, scratch_database
from sqlalchemy import func, select
from standardwebhooks import Webhook
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

BACKOFF = (0.5, 1, 2, 2, 2, 2, 2, 2)


def receiver(port: int, secret: str, failure_rate: float, ready) -> None:
    """Serve one receiver: 500 for `failure_rate` of the requests, else verify and accept."""
    accepted: Counter[str] = Counter()
    stats = {"requests": 0, "failed": 0, "bad_signature": 0}
    lock = threading.Lock()
    rng = random.Random(port)

    def app(environ, start_response):
        request = Request(environ)
        if request.path == "/stats":
            with lock:
                body = {**stats, "unique": len(accepted), "accepted": sum(accepted.values())}
                body["duplicates"] = sum(count - 1 for count in accepted.values())
            return Response(json.dumps(body), mimetype="application/json")(environ, start_response)
        data = request.get_data()
        with lock:
            stats["requests"] += 1
            if rng.random() < failure_rate:
                stats["failed"] += 1
                return Response("try later", status=500)(environ, start_response)
        try:
            Webhook(secret).verify(data, dict(request.headers))
        except Exception:  # noqa: BLE001 - counted and refused
            with lock:
                stats["bad_signature"] += 1
            return Response("bad signature", status=400)(environ, start_response)
        with lock:
            accepted[request.headers["webhook-id"]] += 1
        return Response("ok")(environ, start_response)

    server = make_server("127.0.0.1", port, app, threaded=True)
    ready.set()
    server.serve_forever()


def make_app(url: str, instance: str):
    from cs_platform import create_app

    # The same SECRET_KEY everywhere: it derives the key that decrypts the signing secrets.
    return create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-" + url, "LOG_LEVEL": "WARNING"},
        instance_path=instance,
    )


def worker(url: str, instance: str, index: int) -> None:
    """One outbox worker process with the compressed back-off schedule."""
    from cs_platform import outbox
    from cs_platform.webhooks.delivery import deliver_webhook
    from cs_platform.webhooks.events import OUTBOX_KIND

    app = make_app(url, instance)
    outbox.register_handler(OUTBOX_KIND, deliver_webhook, BACKOFF)
    with app.app_context():
        outbox.work(f"bench-{index}", batch=50, once=False, idle_seconds=0.2)


def report(args, queued: int, timings: tuple[float, float], attempts: int, stats) -> None:
    publish, elapsed = timings
    print(f"{args.events} events x 2 endpoints = {queued} deliveries, {args.workers} workers")
    print(f"published (one transaction): {publish:.2f} s")
    print(f"all delivered after:         {elapsed:.1f} s ({queued / elapsed:.0f} deliveries/s)")
    print(f"attempts:                    {attempts} ({attempts - queued} retries)")
    for name, stat in zip(("healthy", f"failing {args.failure_rate:.0%}"), stats, strict=True):
        print(
            f"receiver {name:<12} requests {stat['requests']:>6}  answered 500 "
            f"{stat['failed']:>5}  bad signatures {stat['bad_signature']}  "
            f"lost {args.events - stat['unique']}  duplicates {stat['duplicates']}"
        )


@contextmanager
def stopped_on_leaving(processes: list[BaseProcess]) -> Iterator[list[BaseProcess]]:
    """`processes` (started ones appended by the caller) terminated on leaving, failures
    included, and killed if they do not stop."""
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()


def wait_for_deliveries(queued: int, started: float) -> float:
    """Seconds from `started` until every delivery has succeeded (15 minutes at most)."""
    from cs_platform.extensions import db
    from cs_platform.webhooks.models import WebhookDelivery

    while True:
        time.sleep(0.5)
        done = db.session.scalar(select(func.count()).where(WebhookDelivery.status == "succeeded"))
        db.session.commit()
        if done == queued or time.perf_counter() - started > 900:
            return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--failure-rate", type=float, default=0.3)
    add_port_option(parser, "--port", "healthy receiver")
    add_port_option(parser, "--failing-port", "failing receiver")
    args = parser.parse_args()
    exit_cleanly_on_signals()

    from cs_platform.extensions import db
    from cs_platform.webhooks.events import publish_events
    from cs_platform.webhooks.models import WebhookDelivery
    from cs_platform.webhooks.services import create_endpoint

    context = multiprocessing.get_context("fork")
    with (
        scratch_database("cs_bench_hooks") as url,
        tempfile.TemporaryDirectory() as instance,
        stopped_on_leaving([]) as receivers,
    ):
        app = make_app(url, instance)
        ports = [port_or_free(args.port), port_or_free(args.failing_port)]
        with app.app_context():
            db.create_all()
            for port, rate in zip(ports, (0.0, args.failure_rate), strict=True):
                _, secret = create_endpoint(
                    f"http://127.0.0.1:{port}/hook", ["task.created"], allow_private=True
                )
                ready = context.Event()
                receivers.append(context.Process(target=receiver, args=(port, secret, rate, ready)))
                receivers[-1].start()
                ready.wait(10)
            db.session.commit()
            db.engine.dispose()
            started = time.perf_counter()
            items = [
                {"id": n, "account_id": n % 5000, "title": f"Task {n}"} for n in range(args.events)
            ]
            queued = publish_events("task.created", items)
            db.session.commit()
            publish_seconds = time.perf_counter() - started
            with stopped_on_leaving([]) as workers:
                for index in range(args.workers):
                    workers.append(context.Process(target=worker, args=(url, instance, index)))
                    workers[-1].start()
                elapsed = wait_for_deliveries(queued, started)
            attempts = db.session.scalar(select(func.sum(WebhookDelivery.attempts)))
        stats = [requests.get(f"http://127.0.0.1:{port}/stats", timeout=5).json() for port in ports]
        report(args, queued, (publish_seconds, elapsed), attempts, stats)


if __name__ == "__main__":
    main()
