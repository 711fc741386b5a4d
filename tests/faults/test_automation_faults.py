"""A run of the automation rules killed with kill -9 mid-rule on PostgreSQL: each rule's
matches, actions and log land together or not at all, and the next run acts on every account
exactly once."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from cs_platform import clock
from cs_platform.automation.services import save_rule
from cs_platform.extensions import db
from cs_platform.models import User
from tests.faults.conftest import FaultDatabase, Processes, wait_for

pytestmark = pytest.mark.postgres
ACCOUNTS = 4000
RULES = 3
BOOK_SQL = [
    """
    INSERT INTO accounts (name, segment, plan, arr, seats, lifecycle_stage, is_demo,
                          created_at, updated_at)
    SELECT 'Customer ' || g, 'smb', 'growth', 12000, 20, 'mature', false, now(), now()
    FROM generate_series(1, :accounts) AS g
    """,
    """
    INSERT INTO health_scores (account_id, scored_on, score, band, method, drivers, context,
                               changes, updated_at)
    SELECT a.id, d.day, d.score, d.band, 'model', '[]', '[]', '{}', now()
    FROM accounts a CROSS JOIN (VALUES (CAST(:yesterday AS date), 55.0, 'yellow'),
                                       (CAST(:today AS date), 30.0, 'red')) AS d(day, score, band)
    """,
]
WRITING_TASKS = (
    "SELECT count(*) FROM pg_locks JOIN pg_class ON pg_class.oid = pg_locks.relation "
    "WHERE pg_class.relname = 'tasks' AND pg_locks.mode = 'RowExclusiveLock' "
    "AND pg_locks.pid <> pg_backend_pid()"
)
PER_RULE = """
SELECT r.id,
  (SELECT count(*) FROM automation_rule_matches m WHERE m.rule_id = r.id),
  (SELECT count(*) FROM automation_rule_runs u WHERE u.rule_id = r.id),
  (SELECT count(DISTINCT u.account_id) FROM automation_rule_runs u WHERE u.rule_id = r.id),
  (SELECT count(*) FROM tasks t WHERE t.reason = 'rule-' || r.id || '-step-0'),
  (SELECT count(*) FROM account_list_members l JOIN account_lists n ON n.id = l.list_id
    WHERE n.name = 'List of ' || r.name),
  (SELECT count(*) FROM webhook_events e WHERE e.event_type = 'automation.rule_fired'
    AND CAST(CAST(e.body AS json) -> 'data' ->> 'rule_id' AS int) = r.id),
  (SELECT count(*) FROM outbox_messages o WHERE o.kind = 'alert_email'
    AND o.dedupe_key LIKE 'rule:' || r.id || ':%')
FROM automation_rules r ORDER BY r.id
"""


def seed_book_and_rules() -> None:
    today = clock.today()
    for statement in BOOK_SQL:
        db.session.execute(
            text(statement),
            {"accounts": ACCOUNTS, "today": today, "yesterday": today - dt.timedelta(days=1)},
        )
    admin = User(email="ada@example.com", name="Ada", role="admin", password_hash="x")
    db.session.add(admin)
    db.session.flush()
    db.session.execute(text("UPDATE accounts SET owner_id = :owner"), {"owner": admin.id})
    for number in range(RULES):
        steps = [
            {"action": "open_task", "title": f"Call them ({number})"},
            {"action": "webhook"},
            {"action": "notify", "message": "Turned red"},
            {"action": "add_to_list", "list": f"List of Rule {number}"},
        ]
        trigger = {"type": "band_entered", "band": "red"}
        save_rule(
            None, f"Rule {number}", {"trigger": trigger, "steps": steps}, admin, confirmed=True
        )
    db.session.commit()


def test_a_run_killed_mid_rule_leaves_whole_rules_and_the_next_run_acts_once(
    fault_db: FaultDatabase, processes: Processes
):
    seed_book_and_rules()
    run = processes.start("rules-1", ["rules", "run"], fault_db.env())
    runs = "SELECT count(*) FROM automation_rule_runs"
    wait_for(lambda: fault_db.scalar(runs) >= ACCOUNTS, 120, "the first rule to commit", 0.01)
    wait_for(lambda: fault_db.scalar(WRITING_TASKS) > 0, 120, "the next writing tasks", 0.005)
    processes.kill(run)

    after_kill = fault_db.rows(PER_RULE)
    columns = "matches, runs, accounts, tasks, listed, events, alerts"
    print(f"\nper rule after kill -9 ({columns}): {after_kill}")
    for _, *counts in after_kill:
        assert set(counts) in ({0}, {ACCOUNTS}), "a rule was half-written"
    assert after_kill[0][1:] == (ACCOUNTS,) * 7, "the first rule had committed"
    assert after_kill[-1][1:] == (0,) * 7, "the kill came after the last rule"

    rerun = processes.start("rules-2", ["rules", "run"], fault_db.env())
    assert rerun.wait(timeout=300) == 0, processes.log_of(rerun)
    for _, *counts in fault_db.rows(PER_RULE):
        assert counts == [ACCOUNTS] * 7, "an account was acted on twice, or missed"
