"""One scheduler tick of 50 automation rules over a 100k-account book on PostgreSQL, beside
its floor.

Seeds a scratch database set-wise: N accounts (owned by 200 CSMs in teams of 10 under team
leads) with a year of closed tasks, two days of health scores (about 2 % of accounts enter red
between them), churn risk, 14 days of usage, open tickets, a custom trait changed on some
accounts. Saves 50 rules, five of
each trigger, with conditions (segment, plan, ARR, band, trait) and actions (a task with a
playbook, an alert, a list, a webhook event, waits and a branch), then times:

* first tick: every rule acts on all it matches (tasks, alerts, log, timeline);
* steady tick: nothing new (the common case every 10 minutes);
* next day: a new scoring day moves 2 % of accounts into red, the band rules act on them.

The floor of each tick is the same matching done the simplest fast way: per rule ONE statement
(the product's own SELECT, compiled with its values) that inserts the new matches into a
table and deletes the gone ones, and nothing else: no actions, no log.

    .venv/bin/python bench/automation_rules.py [--accounts 100000] [--rules 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time

from api_common import scratch_database
from api_reads import seed_with_sql
from sqlalchemy import text

SEED_SQL = [
    """
    INSERT INTO users (email, name, role, password_hash, active, created_at, session_version)
    SELECT 'csm' || g || '@example.com', 'CSM ' || g,
           CASE WHEN g <= 20 THEN 'team_lead' ELSE 'csm' END, 'x', true, now(), 1
    FROM generate_series(1, 200) AS g
    """,
    "UPDATE users SET team_lead_id = 1 + (id % 20) WHERE role = 'csm'",
    """
    INSERT INTO accounts (name, domain, segment, plan, arr, seats, contract_start, renewal_date,
                          lifecycle_stage, owner_id, is_demo, created_at, updated_at)
    SELECT 'Customer ' || g, 'customer' || g || '.example.com',
           (ARRAY['smb','mid_market','enterprise'])[1 + g % 3],
           (ARRAY['starter','growth','enterprise'])[1 + (g / 3) % 3],
           round((5000 + (g * 7919) % 250000)::numeric, 2), 10 + g % 300,
           current_date - 400 + g % 200, current_date + (g * 7) % 400, 'mature',
           1 + g % 200, true, now(), now()
    FROM generate_series(1, :accounts) AS g
    """,
    # Yesterday's and today's scores: about 2 % cross into red today.
    """
    INSERT INTO health_scores (account_id, scored_on, score, band, method, churn_probability,
                               drivers, context, changes, updated_at)
    SELECT a.id, current_date - d, s.score,
           CASE WHEN s.score < 40 THEN 'red' WHEN s.score < 70 THEN 'yellow' ELSE 'green' END,
           'model', 1 - s.score / 100, '[]', '[]', '{}', now()
    FROM accounts a
    CROSS JOIN generate_series(0, 1) AS d
    CROSS JOIN LATERAL (
      SELECT CASE WHEN a.id % 50 = 0 AND d = 0 THEN 30.0
                  WHEN a.id % 50 = 0 THEN 55.0
                  ELSE (a.id * 37 % 100)::float END AS score
    ) s
    """,
    """
    INSERT INTO churn_risks (account_id, scored_on, p_churn_before_renewal, p_churn_90d,
                             expected_remaining_months, survival_curve, updated_at)
    SELECT id, current_date, (id * 13 % 100) / 100.0, (id * 13 % 100) / 300.0, 12, '[]', now()
    FROM accounts
    """,
    """
    INSERT INTO usage_daily (account_id, day, source, active_users, events, features_used)
    SELECT a.id, current_date - d, 'imported', 1 + a.id % 40,
           CASE WHEN d < 7 AND a.id % 10 = 0 THEN 20 ELSE 100 END, 5
    FROM accounts a CROSS JOIN generate_series(0, 13) AS d
    """,
    """
    INSERT INTO support_tickets (account_id, source, external_id, subject, status, priority,
                                 created_at, updated_at, synced_at)
    SELECT 1 + g % :accounts, 'zendesk', g::text, 'Ticket ' || g,
           (ARRAY['new','open','pending','solved','closed'])[1 + g % 5], 'normal',
           now(), now(), now()
    FROM generate_series(1, :accounts / 2) AS g
    """,
    "INSERT INTO trait_definitions (key, label, type, description, created_at) "
    "VALUES ('tier', 'Tier', 'string', '', now())",
    """
    INSERT INTO account_traits (account_id, key, value_text, updated_at)
    SELECT id, 'tier', (ARRAY['gold','silver','bronze'])[1 + id % 3],
           CASE WHEN id % 100 = 0 THEN now() ELSE now() - interval '3 days' END
    FROM accounts
    """,
    # A year of task history: two closed tasks per account (the tables are not empty, as in a
    # live book, so the planner's statistics are a live book's).
    """
    INSERT INTO tasks (account_id, kind, severity, title, reason, details, status, outcome,
                       created_at, completed_at, due_date)
    SELECT a.id, 'churn_risk', 'medium', 'Past flag', 'old-' || n, '', 'done', 'saved',
           now() - interval '200 days', now() - interval '190 days', current_date - 190
    FROM accounts a CROSS JOIN generate_series(1, 2) AS n
    """,
    """
    INSERT INTO task_steps (task_id, playbook_id, position, title, done_at)
    SELECT t.id, NULL, n, 'Step ' || n, now() FROM tasks t CROSS JOIN generate_series(0, 1) AS n
    """,
    "INSERT INTO playbooks (name, description, steps, created_at) "
    "VALUES ('Save plan', '', '[\"Review drivers\", \"Call the sponsor\"]', now())",
]

TRIGGERS = [
    {"type": "band_entered", "band": "red"},
    {"type": "band_left", "band": "yellow"},
    {"type": "score_drop", "points": 20, "days": 1},
    {"type": "churn_risk_above", "probability": 0.9},
    {"type": "usage_drop", "percent": 50},
    {"type": "seat_utilisation", "direction": "above", "share": 0.9},
    {"type": "survey_answer", "category": "detractor"},
    {"type": "ticket_backlog", "count": 1},
    {"type": "renewal_within", "days": 30},
    {"type": "trait_changed", "key": "tier"},
]
CONDITIONS = [
    [],
    [{"field": "segment", "op": "in", "value": ["enterprise"]}],
    [{"field": "arr", "op": "gte", "value": 100000}],
    [{"field": "band", "op": "ne", "value": "green"}],
    [{"field": "trait", "op": "matches", "value": "tier:gold"}],
]


def definition(number: int) -> dict:
    """Rule `number`: its trigger, one of five conditions, and actions of every kind."""
    steps: list[dict] = [
        {"action": "open_task", "title": f"Rule {number}", "playbook": "Save plan"},
        {"action": "notify", "message": f"Rule {number} fired", "channels": ["email"]},
        {"action": "add_to_list", "list": f"Rule {number}"},
    ]
    if number % 5 == 0:
        steps += [
            {"wait_days": 7},
            {
                "if": [{"field": "band", "op": "eq", "value": "red"}],
                "then": [{"action": "notify", "recipients": "team_lead", "message": "Still red"}],
            },
        ]
    if number % 10 == 1:
        steps.append({"action": "webhook"})
    return {
        "trigger": TRIGGERS[number % len(TRIGGERS)],
        "conditions": CONDITIONS[(number // len(TRIGGERS)) % len(CONDITIONS)],
        "steps": steps,
    }


def floor_statements(app) -> list[str]:
    """Per rule, one statement: insert the new matches, delete the gone ones."""
    from cs_platform.automation.matching import Moment, matching
    from cs_platform.automation.models import Rule
    from cs_platform.extensions import db

    moment = Moment.read()
    statements = []
    for rule in db.session.scalars(db.select(Rule).order_by(Rule.id)):
        query = matching(rule.definition, moment, rule.id).subquery("m")
        compiled = db.select(query.c.id).compile(db.engine, compile_kwargs={"literal_binds": True})
        statements.append(
            f"WITH m AS ({compiled}), "
            f"gone AS (DELETE FROM floor_matches f WHERE f.rule_id = {rule.id} "
            f"AND f.account_id NOT IN (SELECT id FROM m)) "
            f"INSERT INTO floor_matches SELECT {rule.id}, id FROM m "
            "ON CONFLICT DO NOTHING"
        )
    return statements


def timed_floor(statements: list[str]) -> float:
    from cs_platform.extensions import db

    started = time.perf_counter()
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    return time.perf_counter() - started


def timed_product(now: dt.datetime | None = None) -> tuple[float, dict]:
    from cs_platform.automation.engine import run_rules

    started = time.perf_counter()
    summary = run_rules(now)
    seconds = time.perf_counter() - started
    return seconds, {
        "acted_on": sum(summary.fired.values()),
        "resumed": summary.resumed,
        "paused": len(summary.paused),
        "failed": summary.failed,
    }


def report(name: str, product: float, floor: float, figures: dict) -> None:
    ratio = product / floor
    print(f"{name}: product {product:.2f} s, floor {floor:.2f} s, ratio {ratio:.2f}x, {figures}")


def run(url: str, instance: str, rules: int) -> None:
    from cs_platform import create_app
    from cs_platform.automation.services import save_rule
    from cs_platform.extensions import db
    from cs_platform.models import User

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "AUTOMATION_CONFIRM_PERCENT": 100}, instance_path=instance
    )
    with app.app_context():
        db.session.execute(
            text(
                "CREATE TABLE floor_matches (rule_id int, account_id int, "
                "PRIMARY KEY (rule_id, account_id))"
            )
        )
        admin = db.session.scalar(db.select(User).where(User.role == "team_lead"))
        for number in range(rules):
            save_rule(None, f"Rule {number}", definition(number), admin, confirmed=True)
        db.session.commit()
        statements = floor_statements(app)
        for tick in ("first tick", "steady tick"):
            floor = timed_floor(statements)
            product, figures = timed_product()
            report(tick, product, floor, figures)
        db.session.execute(
            text(
                "INSERT INTO health_scores (account_id, scored_on, score, band, method, "
                "churn_probability, drivers, context, changes, updated_at) "
                "SELECT account_id, scored_on + 1, "
                "CASE WHEN account_id % 50 = 1 THEN 25 ELSE score END, "
                "CASE WHEN account_id % 50 = 1 THEN 'red' ELSE band END, method, "
                "churn_probability, drivers, context, changes, now() "
                "FROM health_scores WHERE scored_on = current_date"
            )
        )
        db.session.commit()
        statements = floor_statements(app)  # the new scoring day
        floor = timed_floor(statements)
        product, figures = timed_product()
        report("next day", product, floor, figures)
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--prefix", default="bench_automation")
    args = parser.parse_args()
    with scratch_database(args.prefix) as url, tempfile.TemporaryDirectory() as instance:
        seed_with_sql(url, instance, SEED_SQL, {"accounts": args.accounts})
        run(url, instance, args.rules)


if __name__ == "__main__":
    main()
