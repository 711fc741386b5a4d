"""Scheduler processes on PostgreSQL: one leads, a second waits; kill -9 the leader and the
second takes over; the server ends the leader's lock session and it steps down; a scoring run
killed during a missed nightly scoring run leaves no half-written day, and the next leader
makes the night up once."""

from __future__ import annotations

import datetime as dt
import itertools
import socket
import time
from functools import partial

import pytest
from sqlalchemy import insert, text

from cs_platform.extensions import db
from cs_platform.job_runs import JobRun, latest_slot
from cs_platform.leadership import LEADER_LOCK_KEY
from cs_platform.models import Account, utcnow
from cs_platform.scheduler import declared_jobs
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
    holder = f"{socket.gethostname()}:{survivor.pid}:"
    lease = "SELECT holder FROM scheduler_lease"
    wait_for(
        lambda: str(fault_db.scalar(lease)).startswith(holder),
        30,
        "the survivor's heartbeat in the lease",
    )

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


SCORES_OF_SLOT = "SELECT count(*) FROM health_scores WHERE scored_on = :day"
WRITING_SCORES = (
    "SELECT count(*) FROM pg_locks JOIN pg_class ON pg_class.oid = pg_locks.relation "
    "WHERE pg_class.relname = 'health_scores' AND pg_locks.mode = 'RowExclusiveLock' "
    "AND pg_locks.pid <> pg_backend_pid()"
)
NIGHTLY_RUN = (
    "SELECT outcome, attempts, caught_up, holder FROM job_runs WHERE job_id = 'scoring-nightly'"
)


def last_night_missed() -> dt.datetime:
    """Record that nightly scoring last ran the night before its latest slot, as after a
    scheduler outage across 02:15 UTC; returns the missed slot."""
    spec = next(spec for spec in declared_jobs() if spec.id == "scoring-nightly")
    missed = latest_slot(spec.build_trigger(), utcnow())
    db.session.add(
        JobRun(job_id=spec.id, slot=missed - dt.timedelta(days=1), outcome="succeeded", attempts=1)
    )
    db.session.commit()
    return missed


def test_a_leader_killed_during_the_missed_nightly_run_leaves_it_to_the_next_leader_once(
    fault_db, processes
):
    accounts = 3000
    seed_accounts(accounts)
    missed = last_night_missed()
    scores = partial(fault_db.scalar, SCORES_OF_SLOT, day=missed.date())
    victim = start_scheduler(processes, fault_db, "scheduler-1", "")
    wait_for(lambda: lock_backend(fault_db) is not None, 60, "the first scheduler to lead")
    standby = start_scheduler(processes, fault_db, "scheduler-2", "")
    wait_for(lambda: fault_db.scalar(WRITING_SCORES) > 0, 120, "the catch-up writing scores", 0.01)

    processes.kill(victim)
    assert scores() == 0  # the day's transaction died with the process
    outcome, attempts, caught_up, holder = fault_db.rows(NIGHTLY_RUN)[0]
    assert (outcome, attempts, caught_up) == ("running", 1, True)
    assert holder.startswith(f"{socket.gethostname()}:{victim.pid}:")

    seen: set[int] = set()

    def day_written() -> bool:
        seen.add(scores())  # type: ignore[arg-type]
        return accounts in seen

    wait_for(day_written, 180, "the standby to make up the night", 0.05)
    wait_for(lambda: fault_db.rows(NIGHTLY_RUN)[0][0] == "succeeded", 30, "the run recorded")
    outcome, attempts, caught_up, holder = fault_db.rows(NIGHTLY_RUN)[0]
    print(f"\nnightly scoring killed mid-write: scores of the slot seen afterwards {sorted(seen)}")
    assert seen <= {0, accounts}, "a reader saw a half-written day"
    assert (outcome, attempts, caught_up) == ("succeeded", 2, True)
    assert holder.startswith(f"{socket.gethostname()}:{standby.pid}:")
    per_account = "SELECT count(*), count(DISTINCT account_id) FROM health_scores"
    assert fault_db.rows(per_account) == [(accounts, accounts)]
    assert "making up missed runs" in processes.log_of(standby)
