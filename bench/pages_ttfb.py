"""Time to first byte of the CSM pages with a large book on PostgreSQL under gunicorn.

Creates a scratch PostgreSQL database, fills it set-wise with N accounts and their history
(daily health scores, churn risk, usage, tickets, survey answers, tasks: synthetic rows written by
SQL, as the scoring CLI would write them), serves the app with gunicorn, signs in and times the
risk list (first page, a filtered page, the last page) and the account page.

    .venv/bin/python bench/pages_ttfb.py --accounts 10000 --requests 200

Prints median and 95th percentile per page and, beside each, its floor: the SQL statements the
product ran for that page (captured in process) replayed on one open connection, timed in turns
with the page so that both see the same load, and the ratio of the two p95s. Drops the database
and the instance folder, also on failure (`--keep NAME` seeds a database created beforehand and
keeps it; `--reuse NAME` skips the seeding of a kept one). PostgreSQL is `BENCH_DATABASE_URL`'s
server, as for the other benches.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
import uuid
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import psycopg
import requests
from api_common import (
    SERVER_URL,
    add_port_option,
    exit_cleanly_on_signals,
    gunicorn,
    libpq_url,
    scratch_database,
)
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

PASSWORD = "violet-harbour-lantern-93"  # noqa: S105 - a throwaway user of the scratch book
CSMS = 20
SCORE_DAYS = 100
RISK_DAYS = 30
USAGE_DAYS = 90

SEED_SQL = [
    # Accounts, owned round-robin by the CSMs (user ids 1..CSMS in a fresh database).
    """
    INSERT INTO accounts (name, domain, segment, plan, arr, seats, contract_start, renewal_date,
                          lifecycle_stage, owner_id, is_demo, created_at, updated_at)
    SELECT 'Customer ' || g, 'customer' || g || '.example.com',
           (ARRAY['smb','mid_market','enterprise'])[1 + g % 3],
           (ARRAY['starter','growth','enterprise'])[1 + (g / 3) % 3],
           5000 + (g * 7919) % 250000, 10 + g % 300,
           current_date - 400 + g % 200, current_date + (g * 7) % 400, 'mature',
           1 + g % :csms, true, now(), now()
    FROM generate_series(1, :accounts) AS g
    """,
    # Daily health scores: a per-account level and drift, drivers as the model writes them.
    """
    INSERT INTO health_scores (account_id, scored_on, score, band, method, churn_probability,
                               drivers, updated_at)
    SELECT a.id, current_date - d, s.score,
           CASE WHEN s.score < 40 THEN 'red' WHEN s.score < 70 THEN 'yellow' ELSE 'green' END,
           'model', 1 - s.score / 100,
           json_build_array(
             json_build_object('feature', 'active_users_change_30d', 'value', -0.4,
                               'contribution', 0.8,
                               'sentence', 'Active users down 40% in 30 days'),
             json_build_object('feature', 'detractors_90d', 'value', 2, 'contribution', 0.4,
                               'sentence', '2 detractors this quarter'),
             json_build_object('feature', 'open_tickets', 'value', 1, 'contribution', -0.1,
                               'sentence', '1 open ticket')),
           now()
    FROM accounts a
    CROSS JOIN generate_series(0, :score_days - 1) AS d
    CROSS JOIN LATERAL (
      SELECT greatest(0, least(100, 55 + 40 * sin(a.id) + d * 0.3 * cos(a.id * 7)))::float AS score
    ) s
    """,
    """
    INSERT INTO churn_risks (account_id, scored_on, p_churn_before_renewal, p_churn_90d,
                             expected_remaining_months, survival_curve, updated_at)
    SELECT a.id, current_date - d, p.p, p.p / 2, 24 * (1 - p.p),
           '[[0,1.0],[3,0.97],[6,0.93],[9,0.9],[12,0.86],[18,0.8],[24,0.74]]'::json, now()
    FROM accounts a
    CROSS JOIN generate_series(0, :risk_days - 1) AS d
    CROSS JOIN LATERAL (SELECT (0.5 + 0.45 * cos(a.id + d * 0.01))::float AS p) p
    """,
    """
    INSERT INTO usage_daily (account_id, day, active_users, events, features_used)
    SELECT a.id, current_date - d, (a.seats * (0.3 + 0.3 * (1 + sin(a.id + d / 10.0))))::int,
           100 + d, 5
    FROM accounts a CROSS JOIN generate_series(0, :usage_days - 1) AS d
    """,
    """
    INSERT INTO support_tickets (account_id, source, external_id, subject, status, priority,
                                 created_at, updated_at, satisfaction)
    SELECT 1 + g % :accounts, 'zendesk', g::text, 'Ticket ' || g,
           (ARRAY['open','pending','solved','closed'])[1 + g % 4], 'normal',
           now() - (g % 200) * interval '1 day', now(), (ARRAY['good','bad',NULL])[1 + g % 3]
    FROM generate_series(1, :accounts * 3) AS g
    """,
    """
    INSERT INTO survey_responses
        (survey_id, account_id, kind, score, comment, responded_at, changed_at)
    SELECT 1, 1 + g % :accounts, 'nps', g % 11, 'Comment ' || g,
           now() - (g % 300) * interval '1 day', now() - (g % 300) * interval '1 day'
    FROM generate_series(1, :accounts * 2) AS g
    """,
    """
    INSERT INTO tasks (account_id, kind, severity, owner_id, title, reason, details, status,
                       created_at)
    SELECT g * 3, 'churn_risk', 'high', 1 + (g * 3) % :csms, 'Churn risk rose', 'p_churn', '',
           'open', now()
    FROM generate_series(1, :accounts / 3) AS g
    """,
]


def seed(url: str, accounts: int, instance: str) -> int:
    """Schema plus the synthetic book; returns the id of the top account at risk."""
    from cs_platform import create_app
    from cs_platform.auth.services import create_user
    from cs_platform.extensions import db
    from surveys.models import Survey

    app = create_app({"SQLALCHEMY_DATABASE_URI": url}, instance_path=instance)
    with app.app_context():
        db.create_all()
        for i in range(CSMS):
            create_user(f"csm{i}@bench.example.com", f"CSM {i}", "csm", PASSWORD)
        db.session.add(Survey(name="NPS", kind="nps"))  # ORM defaults fill the other columns
        db.session.commit()
        params = {
            "accounts": accounts,
            "csms": CSMS,
            "score_days": SCORE_DAYS,
            "risk_days": RISK_DAYS,
            "usage_days": USAGE_DAYS,
        }
        started = time.perf_counter()
        with db.engine.begin() as connection:
            for statement in SEED_SQL:
                used = {k: v for k, v in params.items() if f":{k}" in statement}
                connection.execute(text(statement), used)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
        print(f"seeded {accounts} accounts in {time.perf_counter() - started:.1f} s")
        db.session.remove()
        db.engine.dispose()
    return top_account(url)


def top_account(url: str) -> int:
    """The account with the most ARR at risk today that has an open task (the one a CSM opens
    first)."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        top = connection.execute(
            text(
                "SELECT a.id FROM accounts a JOIN churn_risks c ON c.account_id = a.id "
                "AND c.scored_on = current_date "
                "WHERE EXISTS (SELECT FROM tasks t WHERE t.account_id = a.id) "
                "ORDER BY a.arr * c.p_churn_before_renewal DESC LIMIT 1"
            )
        ).scalar_one()
    engine.dispose()
    return top


def served(
    url: str, instance: str, workers: int, port: int, threads: int = 1
) -> AbstractContextManager[str]:
    """The app under gunicorn on `port` (0: a free one), on the database at `url`; yields its
    base URL, stops it after."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "INSTANCE_PATH": instance,
        "SECRET_KEY": uuid.uuid4().hex,
        "LOG_LEVEL": "WARNING",
        "SCHEDULER_ENABLED": "0",
    }
    return gunicorn("wsgi:app", env, workers, "/healthz", port, threads=threads)


def signed_in_session(base: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    token = token or re.search(r'name="csrf_token" value="([^"]+)"', page)
    data = {"email": "csm0@bench.example.com", "password": PASSWORD, "csrf_token": token[1]}
    response = session.post(f"{base}/login", data=data, allow_redirects=False, timeout=10)
    if response.status_code != 302:
        raise SystemExit(f"login failed: {response.status_code}")
    return session


def time_to_first_byte(session: requests.Session, url: str) -> float:
    """Milliseconds from sending the request to the response headers (requests' `elapsed`)."""
    response = session.get(url, stream=True, allow_redirects=False, timeout=30)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    response.content  # noqa: B018 - drain the body so the connection is reused
    return response.elapsed.total_seconds() * 1000


def page_statements(url: str, instance: str, path: str) -> list[tuple[str, Any]]:
    """The SQL the product runs to answer `path` for the signed-in CSM, with its parameters,
    through SQLAlchemy and on the driver's held connection (`cs_platform.driver_reads`):
    captured in this process from a second request (the first warms caches)."""
    from cs_platform import create_app, driver_reads
    from cs_platform.extensions import db

    overrides = {"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False}
    app = create_app(overrides, instance_path=instance)
    captured: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        captured.append((statement, parameters))

    def fetched_and_recorded(engine, cursor, sql, values, fetch):
        captured.append((sql, values))
        return fetched(engine, cursor, sql, values, fetch)

    with app.app_context():
        engine = db.engine
    client = app.test_client()  # each request in its own app context and session, as served
    client.post("/login", data={"email": "csm0@bench.example.com", "password": PASSWORD})
    client.get(path)
    event.listen(engine, "before_cursor_execute", record)
    fetched, driver_reads.fetched = driver_reads.fetched, fetched_and_recorded
    try:
        status = client.get(path).status_code
    finally:
        driver_reads.fetched = fetched
        event.remove(engine, "before_cursor_execute", record)
    engine.dispose()
    if status != 200:
        raise SystemExit(f"{path} answered {status} in process")
    return captured


def replay(cursor: psycopg.Cursor, statements: list[tuple[str, Any]]) -> float:
    """Milliseconds to run `statements` in order on one open connection: the page's floor (its
    own SQL, nothing else)."""
    started = time.perf_counter()
    for statement, parameters in statements:
        cursor.execute(statement, parameters)
        if cursor.description is not None:
            cursor.fetchall()
    return (time.perf_counter() - started) * 1000


def time_page(
    session: requests.Session,
    url: str,
    floor_url: str,
    statements: list[tuple[str, Any]],
    count: int,
) -> tuple[list[float], list[float]]:
    """`count` timings of the page and of its floor, taken in turns so that both see the same
    load on the machine; five of each warm up first."""
    product, floor = [], []
    with psycopg.connect(libpq_url(floor_url), autocommit=True) as connection:
        cursor = connection.cursor()
        for _ in range(count + 5):
            product.append(time_to_first_byte(session, url))
            floor.append(replay(cursor, statements))
    return product[5:], floor[5:]


def p95(timings: list[float]) -> float:
    ordered = sorted(timings)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def report(name: str, timings: list[float]) -> None:
    print(f"{name:<34} median {statistics.median(timings):7.1f} ms   p95 {p95(timings):7.1f} ms")


def bench_pages(url: str, instance: str, top: int, args: argparse.Namespace) -> None:
    """Time each page under gunicorn and replay its SQL as its floor; prints both and the ratio."""
    with served(url, instance, args.workers, args.port, args.threads) as base:
        session = signed_in_session(base)
        first = session.get(f"{base}/", timeout=30).text
        pages = int(re.search(r"Page 1 of (\d+)", first)[1])
        targets = {
            "risk list, first page": "/",
            "risk list, mine + red + 180 d": "/?owner=me&band=red&renewal_within=180",
            f"risk list, last page ({pages})": f"/?page={pages}",
            "account page (top account)": f"/accounts/{top}",
        }
        print(
            f"{args.accounts} accounts, {args.requests} requests per page, "
            f"gunicorn {args.workers} workers x {args.threads} threads, PostgreSQL"
        )
        for name, path in targets.items():
            statements = page_statements(url, instance, path)
            product, floor = time_page(session, base + path, url, statements, args.requests)
            report(name, product)
            report(f"  floor: its {len(statements)} statements", floor)
            print(f"  product/floor p95: {p95(product) / p95(floor):.1f}x")


def database(args: argparse.Namespace) -> AbstractContextManager[str]:
    """The database to bench on: a named one (`--keep`, `--reuse`) or a scratch one."""
    named = args.keep or args.reuse
    if not named:
        return scratch_database("cs_bench_pages")
    url = make_url(SERVER_URL).set(database=named)
    return nullcontext(url.render_as_string(hide_password=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="per worker; above 1 gunicorn runs gthread (keep-alive)",
    )
    add_port_option(parser, what="gunicorn serving the app")
    kept = parser.add_mutually_exclusive_group()
    kept.add_argument("--keep", help="seed this database (created beforehand) and keep it")
    kept.add_argument("--reuse", help="a database seeded with --keep: skip the seeding")
    args = parser.parse_args()
    exit_cleanly_on_signals()
    with database(args) as url, tempfile.TemporaryDirectory() as instance:
        top = top_account(url) if args.reuse else seed(url, args.accounts, instance)
        bench_pages(url, instance, top, args)


if __name__ == "__main__":
    main()
