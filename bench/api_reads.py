"""Requests per second and latency percentiles of two API reads under gunicorn on PostgreSQL.

Seeds a scratch database set-wise with N accounts and three days of health scores each, creates
an API key, serves the app with gunicorn and drives it with wrk (apt install wrk):

* GET /api/v1/accounts/{id}/health for random ids, and beside it its floor
  (bench/api_floor_app.py: plain Flask, one psycopg query that also checks the key) with the
  ratio of their throughput and p99;
* GET /api/v1/health-scores?updated_since=...&limit=500, a 500-row page of an incremental pull.

    .venv/bin/python bench/api_reads.py --accounts 100000 --seconds 20

Product and floor take turns in `--slices` slices; prints the pooled req/s, the median of
the slices' latency percentiles and each slice's ratios, then drops the database.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from contextlib import AbstractContextManager

import requests
from api_common import (
    add_port_option,
    exit_cleanly_on_signals,
    gunicorn,
    health_scores_sql,
    libpq_url,
    scratch_database,
)
from sqlalchemy import text

SEED_SQL = [
    """
    INSERT INTO accounts (name, domain, segment, plan, arr, seats, contract_start, renewal_date,
                          lifecycle_stage, is_demo, created_at, updated_at)
    SELECT 'Customer ' || g, 'customer' || g || '.example.com',
           (ARRAY['smb','mid_market','enterprise'])[1 + g % 3],
           (ARRAY['starter','growth','enterprise'])[1 + (g / 3) % 3],
           round((5000 + random() * 250000)::numeric, 2), 10 + g % 300,
           current_date - 400 + g % 200, current_date + (g * 7) % 400, 'mature', true,
           now(), now()
    FROM generate_series(1, :accounts) AS g
    """,
    # Three nightly runs; updated_at spreads each run over its night so pages are realistic.
    health_scores_sql(),
]

HEALTH_SCRIPT = """
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/v1/accounts/" .. math.random(1, {accounts}) .. "/health",
                    {{["Authorization"] = "Bearer {key}"}})
end
"""
PAGE_SCRIPT = """
wrk.headers["Authorization"] = "Bearer {key}"
"""


def seed_with_sql(
    url: str,
    instance: str,
    statements: list[str],
    params: dict,
    scopes: tuple[str, ...] = ("read:scores",),
) -> str:
    """Schema, the rows `statements` insert (set-wise) and an API key with `scopes`; returns
    the key and prints how long the rows took."""
    from cs_platform import create_app
    from cs_platform.auth.services import create_api_key
    from cs_platform.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url}, instance_path=instance)
    with app.app_context():
        db.create_all()
        started = time.perf_counter()
        with db.engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement), params)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
        _, key = create_api_key("bench", list(scopes))
        db.session.commit()
        print(f"seeded {params} in {time.perf_counter() - started:.1f} s")
        db.session.remove()
        db.engine.dispose()
    return key


def seed(url: str, accounts: int, instance: str) -> str:
    """Accounts with three health scores each, and an API key; returns the key."""
    return seed_with_sql(url, instance, SEED_SQL, {"accounts": accounts, "days": 3})


def app_env(url: str, instance: str) -> dict[str, str]:
    """The product's environment: the database, shared Redis counters (as in production; the
    in-memory store is per worker) and a limit the benchmark never reaches."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "INSTANCE_PATH": instance,
        "SECRET_KEY": uuid.uuid4().hex,
        "LOG_LEVEL": "WARNING",
        "SCHEDULER_ENABLED": "0",
        "API_RATE_LIMIT": "100000000 per minute",
        "RATELIMIT_STORAGE_URI": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7"),
    }


def served(
    url: str, instance: str, workers: int, port: int = 0, threads: int = 1
) -> AbstractContextManager[str]:
    """The app served by gunicorn on the database at `url`; yields its base URL."""
    return gunicorn(
        "wsgi:app", app_env(url, instance), workers, "/api/v1/openapi.json", port, threads=threads
    )


def floor_served(
    url: str, workers: int, port: int = 0, threads: int = 1
) -> AbstractContextManager[str]:
    """The floor app (bench/api_floor_app.py) on the same database, workers and threads."""
    env = {**os.environ, "FLOOR_DATABASE_URL": libpq_url(url)}
    return gunicorn("api_floor_app:app", env, workers, "/ping", port, threads=threads)


def wrk(url: str, script: str, seconds: int, connections: int) -> dict[str, str]:
    """Run wrk with a Lua script; returns req/s, requests, duration and the latency
    percentiles it printed."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        output = subprocess.run(  # noqa: S603 - wrk with our arguments
            [shutil.which("wrk") or "wrk", "-t2", f"-c{connections}", f"-d{seconds}s",
             "--latency", "-s", lua.name, url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    figures = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", output, re.MULTILINE))
    figures["req/s"] = re.search(r"Requests/sec:\s+(\S+)", output).group(1)
    done = re.search(r"(\d+) requests in ([\d.]+\w+),", output)
    figures["requests"], figures["duration"] = done.group(1), done.group(2)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    figures["non-2xx"] = errors.group(1) if errors else "0"
    return figures


def in_turns(
    product: str, floor: str, script: str, args: argparse.Namespace
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """wrk against the product and the floor in `args.slices` alternating slices of
    `args.seconds` / `args.slices` each (both servers up, the idle one waiting), so load from
    elsewhere falls on both sides alike; returns each side's slices."""
    slice_seconds = max(1, args.seconds // args.slices)
    for warm_up in (product, floor):  # first requests import and compile: not timed
        wrk(warm_up, script, 2, args.connections)
    products, floors = [], []
    for _ in range(args.slices):
        products.append(wrk(product, script, slice_seconds, args.connections))
        floors.append(wrk(floor, script, slice_seconds, args.connections))
    return products, floors


def pooled(slices: list[dict[str, str]]) -> dict[str, str]:
    """One side's slices as one run: requests over seconds, the median of each percentile."""
    requests_made = sum(int(piece["requests"]) for piece in slices)
    elapsed = sum(seconds(piece["duration"]) for piece in slices)
    figures = {
        percentile: sorted(slices, key=lambda piece: seconds(piece[percentile]))[len(slices) // 2][
            percentile
        ]
        for percentile in ("50", "90", "99")
    }
    figures["req/s"] = f"{requests_made / elapsed:.2f}"
    figures["non-2xx"] = str(sum(int(piece["non-2xx"]) for piece in slices))
    return figures


def slice_ratios(products: list[dict[str, str]], floors: list[dict[str, str]]) -> str:
    """Each slice pair's throughput ratio and p99 ratio, to show how steady they are."""
    return ", ".join(
        f"{float(p['req/s']) / float(f['req/s']):.2f} ({seconds(p['99']) / seconds(f['99']):.1f}x)"
        for p, f in zip(products, floors, strict=True)
    )


def seconds(latency: str) -> float:
    """wrk's latency text (850.00us, 12.3ms, 1.2s) in seconds."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", latency).groups()
    return float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def report(name: str, figures: dict[str, str]) -> None:
    print(
        f"{name:<46} {figures['req/s']:>9} req/s   p50 {figures['50']:>8}   "
        f"p90 {figures['90']:>8}   p99 {figures['99']:>8}   non-2xx {figures['non-2xx']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=20, help="per side and endpoint")
    parser.add_argument(
        "--slices", type=int, default=4, help="product and floor take turns this many times"
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--threads", type=int, default=1, help="per worker; above 1 gunicorn runs gthread"
    )
    parser.add_argument("--connections", type=int, default=16)
    add_port_option(parser)
    add_port_option(parser, "--floor-port", "floor app")
    args = parser.parse_args()
    exit_cleanly_on_signals()
    with scratch_database("cs_bench_api") as url, tempfile.TemporaryDirectory() as instance:
        key = seed(url, args.accounts, instance)
        with (
            served(url, instance, args.workers, args.port, args.threads) as base,
            floor_served(url, args.workers, args.floor_port, args.threads) as floor_base,
        ):
            since = "1970-01-01T00:00:00Z"
            page = requests.get(
                f"{base}/api/v1/health-scores?updated_since={since}&limit=500",
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )
            assert len(page.json()["data"]) == 500, page.text[:200]
            print(
                f"gunicorn {args.workers} workers x {args.threads} threads, wrk 2 threads x "
                f"{args.connections} connections, {args.seconds} s per side in {args.slices} "
                "alternating slices"
            )
            script = HEALTH_SCRIPT.format(accounts=args.accounts, key=key)
            products, floors = in_turns(base, floor_base, script, args)
            product, floor = pooled(products), pooled(floors)
            report("GET /accounts/{id}/health (random ids)", product)
            report("  floor: plain Flask, one query with the key", floor)
            print(
                f"  product/floor: {float(product['req/s']) / float(floor['req/s']):.2f} of the"
                f" throughput, p99 {seconds(product['99']) / seconds(floor['99']):.1f}x"
                f" (median of slices); per slice: {slice_ratios(products, floors)}"
            )
            report(
                "GET /health-scores?updated_since=..&limit=500",
                wrk(
                    f"{base}/api/v1/health-scores?updated_since={since}&limit=500",
                    PAGE_SCRIPT.format(key=key),
                    args.seconds,
                    args.connections,
                ),
            )


if __name__ == "__main__":
    main()
