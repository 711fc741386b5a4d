"""Sync N tickets from the Zendesk fake (its own process, 429 on a share of pages) into
PostgreSQL and print records per second, excluding the waits the fake imposes.

    .venv/bin/python bench/integrations_zendesk.py --tickets 100000 --rate-limited 0.05
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

from integrations_common import scratch_app

ORGS = 1000


def serve(tickets: int, every: int, ready, stop) -> None:
    """The fake Zendesk in a child process (so it does not share the client's GIL)."""
    from tests.integrations.fakes.zendesk import FakeZendesk, make_metric_set, make_ticket

    fake = FakeZendesk(retry_after=1, rate_limit_every=every)
    for org in range(1, ORGS + 1):
        fake.add_organization(org, f"Customer {org}", [f"customer{org}.example"])
        fake.add_user(org, f"user@customer{org}.example")
    for number in range(1, tickets + 1):
        org = 1 + number % ORGS
        ticket = make_ticket(number, org, org, minutes=number)
        fake.add_ticket(ticket, make_metric_set(ticket))
    fake.tickets = fake.ordered_tickets()
    fake.ordered_tickets = lambda: fake.tickets  # sorted once: the export reads it per page
    ready.put(fake.start())
    started = time.process_time()
    stop.wait()
    ready.put(time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--rate-limited", type=float, default=0.05, help="share of pages")
    args = parser.parse_args()
    every = round(1 / args.rate_limited) if args.rate_limited else 0
    ready, stop = multiprocessing.Queue(), multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(args.tickets, every, ready, stop))
    server.start()
    url = ready.get(timeout=600)
    try:
        with scratch_app(accounts=ORGS):
            run_once(url, args.tickets)
    finally:
        stop.set()
        print(f"fake Zendesk CPU {ready.get(timeout=30):.1f}s (serving the pages)")
        server.join(timeout=5)


def run_once(url: str, tickets: int) -> None:
    from sqlalchemy import func, select

    from cs_platform.extensions import db
    from integrations.models import SupportTicket
    from integrations.services import save_connection
    from integrations.sync import run_sync

    connection = save_connection(
        None, name="zendesk-bench", kind="zendesk", base_url=url,
        credentials={"email": "agent@vendor.example", "api_token": "zd-token-s3cret"},
        request_budget=100_000,
    )  # fmt: skip
    db.session.commit()
    started, cpu_started = time.perf_counter(), time.process_time()
    run = run_sync(connection)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    stored = db.session.scalar(select(func.count()).select_from(SupportTicket))
    working = elapsed - run.waited_seconds
    print(f"status {run.status} {run.error or ''}")
    print(
        f"tickets in source {tickets}, stored {stored}, fetched {run.fetched} "
        f"(incl. {run.fetched - tickets} organizations), requests {run.requests}"
    )
    print(f"wall {elapsed:.1f}s, imposed waits {run.waited_seconds:.1f}s, working {working:.1f}s")
    print(f"records/s excluding imposed waits: {run.fetched / working:,.0f}")
    print(f"client CPU {cpu:.1f}s: {run.fetched / cpu:,.0f} records per CPU-second "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")  # fmt: skip


if __name__ == "__main__":
    main()
