"""Building and queueing the daily digests of 200 CSMs over a 20,000-account book on
PostgreSQL, beside its floor.

Seeds a scratch database set-wise: 200 CSMs (in teams of 10 under 20 team leads, whose digests
cover their teams), N accounts with two days of scores (about 5 % change band), new risk flags,
detractor answers, renewals over the next 90 days and overdue tasks. Then times:

* product: `send_due_digests` for everyone whose morning has come (build every digest, render
  both parts of each email, queue them in the outbox, record the days), rolled back;
* floor: the same five sections read with one plain SQL statement each for all users, rows
  fetched, nothing rendered or written.

    .venv/bin/python bench/digest.py [--accounts 20000] [--users 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time

from api_common import scratch_database
from api_reads import seed_with_sql
from sqlalchemy import text

SEED_SQL = [
    """
    INSERT INTO users (email, name, role, password_hash, active, created_at, session_version)
    SELECT 'csm' || g || '@example.com', 'CSM ' || g,
           CASE WHEN g <= :users / 10 THEN 'team_lead' ELSE 'csm' END, 'x', true, now(), 1
    FROM generate_series(1, :users) AS g
    """,
    "UPDATE users SET team_lead_id = 1 + (id % (:users / 10)) WHERE role = 'csm'",
    """
    INSERT INTO accounts (name, domain, segment, plan, arr, seats, contract_start, renewal_date,
                          lifecycle_stage, owner_id, is_demo, created_at, updated_at)
    SELECT 'Customer ' || g, 'customer' || g || '.example.com', 'smb', 'growth', 20000, 20,
           current_date - 300, current_date + (g * 7) % 365, 'mature', 1 + (g / 7) % :users, true,
           now(), now()
    FROM generate_series(1, :accounts) AS g
    """,
    """
    INSERT INTO health_scores (account_id, scored_on, score, band, method, drivers, context,
                               changes, updated_at)
    SELECT a.id, current_date - d, s.score,
           CASE WHEN s.score < 40 THEN 'red' WHEN s.score < 70 THEN 'yellow' ELSE 'green' END,
           'model', '[]', '[]', '{}', now()
    FROM accounts a CROSS JOIN generate_series(0, 1) AS d
    CROSS JOIN LATERAL (SELECT CASE WHEN a.id % 20 = 0 AND d = 0 THEN 30.0
                                    WHEN a.id % 20 = 0 THEN 60.0
                                    ELSE (a.id * 37 % 100)::float END AS score) s
    """,
    """
    INSERT INTO tasks (account_id, kind, severity, title, reason, details, status, created_at,
                       due_date, owner_id)
    SELECT id, 'churn_risk', 'high', 'P(churn) high before renewal', 'p_churn', '', 'open',
           now() - interval '2 hours', current_date + 7, owner_id
    FROM accounts WHERE id % 40 = 0
    """,
    """
    INSERT INTO tasks (account_id, kind, severity, title, reason, details, status, created_at,
                       due_date, owner_id)
    SELECT id, 'manual', 'medium', 'Send the QBR deck', 'qbr', '', 'open',
           now() - interval '20 days', current_date - 1 - id % 10, owner_id
    FROM accounts WHERE id % 25 = 0
    """,
    "INSERT INTO surveys (name, kind, default_locale, texts, product_name, sender_name, "
    "brand_colour, created_at) VALUES ('NPS', 'nps', 'en', '{}', 'us', 'CS', '#3354d1', now())",
    """
    INSERT INTO survey_responses (survey_id, account_id, kind, score, comment, responded_at,
                                  changed_at)
    SELECT 1, id, 'nps', id % 7, 'Exports keep timing out', now() - interval '3 hours', now()
    FROM accounts WHERE id % 30 = 0
    """,
]
FLOOR_SQL = """
WITH book AS (
  SELECT owner_id AS user_id, a.id AS account_id FROM accounts a WHERE a.churned_at IS NULL
  UNION ALL
  SELECT u.team_lead_id, a.id FROM accounts a JOIN users u ON u.id = a.owner_id
  WHERE u.team_lead_id IS NOT NULL AND a.churned_at IS NULL)
SELECT b.user_id, a.name, {columns} FROM book b JOIN accounts a ON a.id = b.account_id {rest}
"""
FLOOR_SECTIONS = [
    (
        "t.band, y.band",
        "JOIN health_scores t ON t.account_id = a.id AND t.scored_on = current_date "
        "JOIN health_scores y ON y.account_id = a.id AND y.scored_on = current_date - 1 "
        "WHERE t.band <> y.band",
    ),
    (
        "k.title",
        "JOIN tasks k ON k.account_id = a.id WHERE k.kind IN ('churn_risk', 'health_drop') "
        "AND k.status <> 'done' AND k.created_at >= now() - interval '1 day'",
    ),
    (
        "r.score, r.comment",
        "JOIN survey_responses r ON r.account_id = a.id "
        "WHERE r.responded_at >= now() - interval '1 day' AND r.score <= 6",
    ),
    ("a.renewal_date", "WHERE a.renewal_date BETWEEN current_date AND current_date + 90"),
    (
        "k.title, k.due_date",
        "JOIN tasks k ON k.account_id = a.id WHERE k.status = 'open' AND k.due_date < current_date",
    ),
]


def timed_floor() -> float:
    from cs_platform.extensions import db

    started = time.perf_counter()
    for columns, rest in FLOOR_SECTIONS:
        db.session.execute(text(FLOOR_SQL.format(columns=columns, rest=rest))).all()
    seconds = time.perf_counter() - started
    db.session.rollback()
    return seconds


def timed_product(now: dt.datetime) -> tuple[float, dict]:
    from cs_platform.digest.sending import send_due_digests
    from cs_platform.extensions import db

    started = time.perf_counter()
    counts = send_due_digests(now)
    db.session.flush()
    seconds = time.perf_counter() - started
    db.session.rollback()
    return seconds, counts


def run(url: str, instance: str, rounds: int) -> None:
    from cs_platform import create_app
    from cs_platform.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url}, instance_path=instance)
    now = dt.datetime.combine(dt.date.today(), dt.time(23, 30))  # past 07:00 in UTC
    with app.app_context():
        products, floors = [], []
        for round_number in range(1, rounds + 1):
            floor = timed_floor()
            product, counts = timed_product(now)
            floors.append(floor)
            products.append(product)
            print(
                f"round {round_number}: product {product:.2f} s, floor {floor:.2f} s, "
                f"ratio {product / floor:.2f}x, {counts}"
            )
        product, floor = statistics.median(products), statistics.median(floors)
        print(f"median: product {product:.2f} s, floor {floor:.2f} s, ratio {product / floor:.2f}x")
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prefix", default="bench_digest")
    args = parser.parse_args()
    with scratch_database(args.prefix) as url, tempfile.TemporaryDirectory() as instance:
        params = {"accounts": args.accounts, "users": args.users}
        seed_with_sql(url, instance, SEED_SQL, params)
        run(url, instance, args.rounds)


if __name__ == "__main__":
    main()
