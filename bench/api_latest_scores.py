"""Rows per second of paging through every account's latest health score with a generated client.

Seeds a scratch PostgreSQL database set-wise with a realistic book: N accounts in three segments
owned by CSMs (one in ten unowned), one in twenty churned (scored until its churn date), newer
accounts scored since they were onboarded, a few quarantined last night, a band override on one
in a hundred, and DAYS nightly runs. Serves the app with gunicorn, generates a Python client from
the served OpenAPI document, and pages through GET /api/v1/health-scores/latest with it: the
whole book, then one CSM's red enterprise accounts (the RevOps question this endpoint answers).

    .venv/bin/python bench/api_latest_scores.py --accounts 100000 --days 90 --limit 500

Prints rows/s and pages/s of each pull, then drops the database (`--keep` leaves it, to EXPLAIN).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from types import ModuleType
from typing import Any

from api_client_paging import PACKAGE, generated_client, report
from api_common import (
    ROOT,
    SERVER_URL,
    add_port_option,
    exit_cleanly_on_signals,
    health_scores_sql,
    scratch_database,
)
from api_reads import seed_with_sql, served
from sqlalchemy.engine import make_url

SEED_SQL = [
    """
    INSERT INTO users (email, name, role, password_hash, active, created_at, session_version)
    SELECT 'csm' || g || '@bench.example', 'CSM ' || g, 'csm', '!', true, now(), 1
    FROM generate_series(1, :owners) AS g
    """,
    """
    INSERT INTO accounts (name, domain, segment, plan, arr, seats, contract_start, renewal_date,
                          lifecycle_stage, churned_at, owner_id, is_demo, created_at, updated_at)
    SELECT 'Customer ' || g, 'customer' || g || '.example.com',
           (ARRAY['smb','mid_market','enterprise'])[1 + g % 3],
           (ARRAY['starter','growth','enterprise'])[1 + (g / 3) % 3],
           round((5000 + random() * 250000)::numeric, 2), 10 + g % 300,
           current_date - 400 + g % 200, current_date + (g * 7) % 400,
           CASE WHEN g % 20 = 0 THEN 'churned'
                ELSE (ARRAY['onboarding','adopting','mature','renewing'])[1 + g % 4] END,
           CASE WHEN g % 20 = 0 THEN current_date - 1 - g % 60 END,
           CASE WHEN g % 10 <> 1 THEN (SELECT min(id) FROM users) + g % :owners END,
           true, now(), now()
    FROM generate_series(1, :accounts) AS g
    """,
    # One row per account and night it was a scorable customer: since onboarding (one in seven
    # joined ten days ago), until its churn date, and not last night for one in ninety-seven.
    health_scores_sql(
        """d < CASE WHEN a.id % 7 = 0 THEN 10 ELSE :days END
      AND (a.churned_at IS NULL OR current_date - d < a.churned_at)
      AND NOT (d = 0 AND a.id % 97 = 0)"""
    ),
    """
    INSERT INTO band_overrides (account_id, band, reason, expires_on, created_at, ended_at)
    SELECT a.id, (ARRAY['green','yellow','red'])[1 + a.id % 3], 'Exec sponsor call',
           current_date + CASE WHEN a.id % 300 = 0 THEN -5 ELSE 30 END, now(),
           CASE WHEN a.id % 500 = 0 THEN now() END
    FROM accounts a WHERE a.id % 100 = 0
    """,
]


def seed(url: str, instance: str, accounts: int, days: int, owners: int) -> str:
    """The book above and a read:scores API key; returns the key."""
    params = {"accounts": accounts, "days": days, "owners": owners}
    return seed_with_sql(url, instance, SEED_SQL, params)


def page_latest(package: ModuleType, base: str, key: str, **filters: Any) -> tuple[int, int]:
    """Every page of /health-scores/latest with `filters`, through the client; (rows, pages)."""
    operation = importlib.import_module(f"{PACKAGE}.api.health_scores.list_latest_health_scores")
    unset = importlib.import_module(f"{PACKAGE}.types").UNSET
    rows = pages = 0
    with package.AuthenticatedClient(base_url=base, token=key, timeout=60) as client:
        cursor = unset
        while cursor is not None:
            page = operation.sync(client=client, cursor=cursor, **filters)
            rows, pages = rows + len(page.data), pages + 1
            cursor = page.next_cursor
    return rows, pages


def pulls(package: ModuleType, limit: int) -> dict[str, dict[str, Any]]:
    """The filters of each pull: the whole live book, and one CSM's red enterprise accounts."""
    models = importlib.import_module(f"{PACKAGE}.models")
    return {
        "latest, whole book": {"limit": limit},
        "latest, red enterprise of one CSM": {
            "limit": limit,
            "segment": models.Segment.ENTERPRISE,
            "effective_band": models.Band.RED,
            "owner_id": 7,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--owners", type=int, default=40)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", help="seed this database (created beforehand) and keep it")
    add_port_option(parser)
    args = parser.parse_args()
    exit_cleanly_on_signals()
    kept = make_url(SERVER_URL).set(database=args.keep).render_as_string(hide_password=False)
    with (
        nullcontext(kept) if args.keep else scratch_database("cs_bench_latest") as url,
        tempfile.TemporaryDirectory() as instance,
        tempfile.TemporaryDirectory() as folder,
    ):
        key = seed(url, instance, args.accounts, args.days, args.owners)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per page otherwise
        with served(url, instance, args.workers, args.port) as base:
            package = generated_client(base, Path(folder))
            print(f"gunicorn {args.workers} sync workers, one client, limit={args.limit}")
            for name, filters in pulls(package, args.limit).items():
                started = time.perf_counter()
                rows, pages = page_latest(package, base, key, **filters)
                report(name, rows, pages, time.perf_counter() - started)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
