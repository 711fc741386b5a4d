"""Send N Segment-style events in batches to /v1/batch served by gunicorn on PostgreSQL, then
roll them up into UsageDaily; prints events per second and the roll-up time.

    .venv/bin/python bench/integrations_events.py --events 1000000 --batch 1000
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from integrations_common import ROOT, scratch_app

GROUPS = 1000
DAYS = 30  # the last 30 days: within the late-event window (RAW_USAGE_EVENTS_RETENTION_DAYS)
FIRST_DAY = dt.date.today() - dt.timedelta(days=DAYS)
WRITE_KEY = "bench-write-key"
EVENT_NAMES = [f"Feature {n} Used" for n in range(20)]


def batch_body(start: int, size: int, rng: random.Random) -> bytes:
    events = []
    for number in range(start, start + size):
        group = rng.randrange(1, GROUPS + 1)
        day = FIRST_DAY + dt.timedelta(days=number % DAYS)
        events.append(
            {"type": "track", "messageId": f"m-{number}", "userId": f"u{group}-{rng.randrange(50)}",
             "event": rng.choice(EVENT_NAMES),
             "timestamp": f"{day}T{number % 24:02d}:00:00Z",
             "context": {"groupId": f"customer{group}.example"}, "properties": {"plan": "growth"}}
        )  # fmt: skip
    return json.dumps({"batch": events}).encode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(url: str, instance: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "INSTANCE_PATH": instance, "LOG_LEVEL": "WARNING",
           "INGEST_RATE_LIMIT": "1000000 per minute", "SCHEDULER_ENABLED": "0"}  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - our own gunicorn with fixed arguments
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "wsgi:app"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(60):
        try:
            requests.get(f"{base}/healthz", timeout=10)
            return process, base
        except requests.RequestException:
            time.sleep(0.5)
    process.terminate()
    raise SystemExit("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--senders", type=int, default=4, help="concurrent client connections")
    args = parser.parse_args()
    with scratch_app(accounts=GROUPS) as app, tempfile.TemporaryDirectory() as instance:
        from cs_platform.extensions import db
        from integrations.services import save_connection
        from integrations.usage import hash_write_key, roll_up_all

        source = save_connection(None, name="events-bench", kind="segment", credentials={})
        source.write_key_hash = hash_write_key(WRITE_KEY)
        db.session.commit()
        rng = random.Random(7)
        starts = range(0, args.events, args.batch)
        bodies = [batch_body(s, min(args.batch, args.events - s), rng) for s in starts]
        print(f"{len(bodies)} batches, {sum(map(len, bodies)) / len(bodies) / 1024:.0f} KB each")
        server, base = serve(app.config["SQLALCHEMY_DATABASE_URI"], instance, args.workers)
        try:
            elapsed, accepted = send(base, bodies, args.senders)
        finally:
            server.terminate()
            server.wait()
        print(f"ingested {accepted:,} events in {elapsed:.1f}s: {accepted / elapsed:,.0f} events/s")
        started = time.perf_counter()
        rows = roll_up_all()
        print(f"roll-up of {accepted:,} events into {rows:,} UsageDaily rows: "
              f"{time.perf_counter() - started:.1f}s")  # fmt: skip
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def send(base: str, bodies: list[bytes], senders: int) -> tuple[float, int]:
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    sessions: dict[int, requests.Session] = {}

    def post(body: bytes) -> int:
        import threading

        session = sessions.setdefault(threading.get_ident(), requests.Session())
        response = session.post(f"{base}/v1/batch", data=body, headers=headers, timeout=120)
        response.raise_for_status()
        return response.json()["accepted"]

    started = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        accepted = sum(pool.map(post, bodies))
    return time.perf_counter() - started, accepted


if __name__ == "__main__":
    main()
