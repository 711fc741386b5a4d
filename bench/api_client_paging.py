"""Rows per second of a full incremental pull of health scores with a generated client.

Seeds a scratch PostgreSQL database set-wise with N health scores (N / 5 accounts, five nightly
runs each), serves the app with gunicorn, generates a Python client from the served OpenAPI
document with openapi-python-client, and pages through GET /api/v1/health-scores with it, as a
BI job would; then the same pages with plain requests, to show what the typed models cost.

    .venv/bin/python bench/api_client_paging.py --scores 100000 --limit 500

Prints rows/s and pages/s for each, then drops the database.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import requests
from api_common import (
    ROOT,
    add_port_option,
    exit_cleanly_on_signals,
    health_scores_sql,
    scratch_database,
)
from api_reads import seed_with_sql, served

DAYS = 5
SEED_SQL = [
    """
    INSERT INTO accounts (name, domain, segment, plan, arr, seats, lifecycle_stage, is_demo,
                          created_at, updated_at)
    SELECT 'Customer ' || g, 'customer' || g || '.example.com',
           (ARRAY['smb','mid_market','enterprise'])[1 + g % 3],
           (ARRAY['starter','growth','enterprise'])[1 + (g / 3) % 3],
           round((5000 + random() * 250000)::numeric, 2), 10 + g % 300, 'mature', true,
           now(), now()
    FROM generate_series(1, :accounts) AS g
    """,
    health_scores_sql(),
]
PACKAGE = "cs_platform_api_client"


def seed(url: str, scores: int, instance: str) -> str:
    """`scores` health scores over DAYS days, and an API key; returns the key."""
    return seed_with_sql(url, instance, SEED_SQL, {"accounts": scores // DAYS, "days": DAYS})


def generated_client(base: str, folder: Path) -> ModuleType:
    """Generate a client from the served document and import it."""
    spec = folder / "openapi.json"
    spec.write_bytes(requests.get(f"{base}/api/v1/openapi.json", timeout=10).content)
    generator = Path(sys.executable).with_name("openapi-python-client")
    output = folder / "client"
    command = [generator, "generate", "--path", spec, "--output-path", output]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - our own command
    sys.path.insert(0, str(output))
    return importlib.import_module(PACKAGE)


def page_with_client(package: ModuleType, base: str, key: str, limit: int) -> tuple[int, int]:
    """Every health score through the generated client; returns (rows, pages)."""
    list_health_scores = importlib.import_module(f"{PACKAGE}.api.health_scores.list_health_scores")
    unset = importlib.import_module(f"{PACKAGE}.types").UNSET
    rows = pages = 0
    with package.AuthenticatedClient(base_url=base, token=key, timeout=60) as client:
        cursor = unset
        while cursor is not None:
            page = list_health_scores.sync(client=client, limit=limit, cursor=cursor)
            rows, pages = rows + len(page.data), pages + 1
            cursor = page.next_cursor
    return rows, pages


def page_with_requests(base: str, key: str, limit: int) -> tuple[int, int]:
    """The same pages as plain JSON."""
    rows = pages = 0
    cursor: str | None = ""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {key}"
        while cursor is not None:
            body = session.get(
                f"{base}/api/v1/health-scores",
                params={"limit": limit, "cursor": cursor},
                timeout=60,
            ).json()
            rows, pages = rows + len(body["data"]), pages + 1
            cursor = body["next_cursor"]
    return rows, pages


def report(name: str, rows: int, pages: int, seconds: float) -> None:
    print(
        f"{name:<34} {rows:>8} rows  {pages:>5} pages  {seconds:6.1f} s  "
        f"{rows / seconds:>9,.0f} rows/s  {pages / seconds:6.1f} pages/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scores", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    add_port_option(parser)
    args = parser.parse_args()
    exit_cleanly_on_signals()
    with (
        scratch_database("cs_bench_client") as url,
        tempfile.TemporaryDirectory() as instance,
        tempfile.TemporaryDirectory() as folder,
    ):
        key = seed(url, args.scores, instance)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per page otherwise
        with served(url, instance, args.workers, args.port) as base:
            package = generated_client(base, Path(folder))
            print(f"gunicorn {args.workers} sync workers, one client, limit={args.limit}")
            pulls = {
                "generated client (typed models)": lambda: page_with_client(
                    package, base, key, args.limit
                ),
                "requests (plain JSON)": lambda: page_with_requests(base, key, args.limit),
            }
            for name, pull in pulls.items():
                started = time.perf_counter()
                rows, pages = pull()
                report(name, rows, pages, time.perf_counter() - started)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
