"""Scheduler processes on PostgreSQL: one leads, a second waits; kill -9 the leader and the
second takes over; the server ends the leader's lock session and it steps down; a scoring run
killed half-way leaves no half-written day."""

from __future__ import annotations

import datetime as dt
import itertools
import socket
import time

import pytest
from sqlalchemy import insert, text

from cs_platform.extensions import db
from cs_platform.models import Account
from cs_platform.scheduler import LEADER_LOCK_KEY
from tests.faults.conftest import FaultDatabase, Processes, wait_for
from tests.faults.fault_jobs import TICK_TABLE_DDL

pytestmark = pytest.mark.postgres


def start_scheduler(processes: Processes, fault_db: FaultDatabase, name: str, jobs: str):
    env = fault_db.env(SCHEDULER_EXTRA_JOB_MODULES="tests.faults.fault_jobs", FAULT_JOBS=jobs)
    return processes.start(name, ["scheduler", "--poll", "0.5"], env)


def ticks_by(fault_db: FaultDatabase) -> dict[int, int]:
    return dict(fault_db.rows("SELECT pid, count(*) FROM fault_ticks GROUP BY pid"))  # type: ignore[arg-type]


def test_two_schedulers_fire_each_job_once_and_the_survivor_takes_over(fault_db, processes):
    db.session.execute(text(TICK_TABLE_DDL))
    db.session.commit()
    first = start_scheduler(processes, fault_db, "scheduler-1", "tick")
    second = start_scheduler(processes, fault_db, "scheduler-2", "tick")
    wait_for(lambda: sum(ticks_by(fault_db).values()) >= 6, 90, "six ticks")

    leaders = set(ticks_by(fault_db))
    assert len(leaders) == 1, f"both schedulers fired the job: {ticks_by(fault_db)}"
    leader, survivor = (first, second) if first.pid in leaders else (second, first)
    processes.kill(leader)
    killed_at = fault_db.scalar("SELECT clock_timestamp()")
    wait_for(lambda: ticks_by(fault_db).get(survivor.pid, 0) >= 4, 60, "the survivor's ticks")
    holder = f"{socket.gethostname()}:{survivor.pid}"
    lease = "SELECT holder FROM scheduler_lease"
    wait_for(lambda: fault_db.scalar(lease) == holder, 30, "the survivor's heartbeat in the lease")

    fired = [row[0] for row in fault_db.rows("SELECT fired_at FROM fault_ticks ORDER BY id")]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(fired)]
    takeover = fault_db.scalar(
        "SELECT min(fired_at) FROM fault_ticks WHERE pid = :pid", pid=survivor.pid
    )
    print(
        f"\ntwo schedulers: {ticks_by(fault_db)} ticks by pid; takeover "
        f"{(takeover - killed_at).total_seconds():.1f} s after kill -9; min gap {min(gaps):.2f} s"
    )
    assert min(gaps) > 0.5, "a 1-second job fired twice for one slot"
    assert set(ticks_by(fault_db)) == {leader.pid, survivor.pid}
    assert takeover > killed_at


LOCK_BACKEND = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND ((classid::bigint << 32) | objid::bigint) = :key"
)


def lock_backend(fault_db: FaultDatabase) -> int | None:
    """The server process of the session holding the scheduler lock, if any."""
    return fault_db.scalar(LOCK_BACKEND, key=LEADER_LOCK_KEY)  # type: ignore[return-value]


def firing_since(fault_db: FaultDatabase, since: dt.datetime) -> set[int]:
    rows = fault_db.rows(
        "SELECT DISTINCT pid FROM fault_ticks WHERE fired_at > :since", since=since
    )
    return {row[0] for row in rows}


def test_a_leader_whose_lock_session_is_terminated_steps_down_so_one_scheduler_fires(
    fault_db, processes
):
    db.session.execute(text(TICK_TABLE_DDL))
    db.session.commit()
    first = start_scheduler(processes, fault_db, "scheduler-1", "tick")
    second = start_scheduler(processes, fault_db, "scheduler-2", "tick")
    wait_for(lambda: sum(ticks_by(fault_db).values()) >= 3, 90, "three ticks")
    [old_leader] = [p for p in (first, second) if p.pid in ticks_by(fault_db)]

    terminated = lock_backend(fault_db)
    assert fault_db.scalar("SELECT pg_terminate_backend(:pid)", pid=terminated)
    wait_for(lambda: lock_backend(fault_db) not in (None, terminated), 30, "a new lock holder")
    time.sleep(3)  # the old leader notices within a second and shuts its jobs down
    settled = fault_db.scalar("SELECT clock_timestamp()")
    time.sleep(5)

    firing = firing_since(fault_db, settled)  # type: ignore[arg-type]
    print(f"\nlock session terminated: firing afterwards {firing}, ticks {ticks_by(fault_db)}")
    assert len(firing) == 1, f"both schedulers fire after the lock was lost: {firing}"
    assert first.poll() is None and second.poll() is None
    assert "scheduler lock lost" in processes.log_of(old_leader)

    # The one that stepped down (or lost the race for the lock) waits and can lead again.
    leader, waiting = (first, second) if first.pid in firing else (second, first)
    processes.kill(leader)
    killed_at = fault_db.scalar("SELECT clock_timestamp()")
    wait_for(lambda: waiting.pid in firing_since(fault_db, killed_at), 60, "the other to lead")  # type: ignore[arg-type]


def seed_accounts(count: int) -> None:
    rows = [
        {
            "name": f"Customer {number}",
            "domain": f"customer{number}.example",
            "segment": "smb",
            "plan": "growth",
            "arr": 12000,
            "seats": 20,
            "contract_start": dt.date(2025, 1, 1),
            "renewal_date": dt.date(2027, 1, 1),
            "lifecycle_stage": "mature",
        }
        for number in range(count)
    ]
    db.session.execute(insert(Account), rows)
    db.session.commit()


SCORES_OF_TODAY = "SELECT count(*) FROM health_scores"
WRITING_SCORES = (
    "SELECT count(*) FROM pg_locks JOIN pg_class ON pg_class.oid = pg_locks.relation "
    "WHERE pg_class.relname = 'health_scores' AND pg_locks.mode = 'RowExclusiveLock' "
    "AND pg_locks.pid <> pg_backend_pid()"
)


def test_a_scheduler_killed_during_nightly_scoring_leaves_no_half_written_day(fault_db, processes):
    accounts = 3000
    seed_accounts(accounts)
    victim = start_scheduler(processes, fault_db, "scheduler-1", "scoring")
    wait_for(lambda: fault_db.scalar(WRITING_SCORES) > 0, 120, "scores being written", 0.01)

    processes.kill(victim)
    assert fault_db.scalar(SCORES_OF_TODAY) == 0  # the day's transaction died with the process

    seen: set[int] = set()

    def day_written() -> bool:
        seen.add(fault_db.scalar(SCORES_OF_TODAY))  # type: ignore[arg-type]
        return accounts in seen

    start_scheduler(processes, fault_db, "scheduler-2", "scoring")
    wait_for(day_written, 120, "the next run to write the day", 0.05)
    print(f"\nscoring killed mid-write: counts of today's scores seen afterwards {sorted(seen)}")
    assert seen <= {0, accounts}, "a reader saw a half-written day"
    per_account = "SELECT count(DISTINCT account_id) FROM health_scores"
    assert fault_db.scalar(per_account) == accounts
