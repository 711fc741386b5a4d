"""The admin's view of the scheduler: each declared job's schedule, latest run and next run,
and whether a scheduler is alive at all. Reads only; works from any process, since the scheduler
may run elsewhere (`flask scheduler`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import column, inspect, select, table

from cs_platform.extensions import db
from cs_platform.job_runs import JobRun, job_runs
from cs_platform.models import utcnow
from cs_platform.scheduler import JOB_TABLE, LEASE_SECONDS, JobSpec, SchedulerLease, declared_jobs

WEEKDAYS = {"mon": "Mondays", "tue": "Tuesdays", "wed": "Wednesdays", "thu": "Thursdays",
            "fri": "Fridays", "sat": "Saturdays", "sun": "Sundays"}  # fmt: skip


@dataclass(frozen=True)
class JobRow:
    spec: JobSpec
    schedule: str
    run: JobRun | None
    next_run: dt.datetime | None


@dataclass(frozen=True)
class SchedulerState:
    holder: str | None
    heartbeat_at: dt.datetime | None

    @property
    def alive(self) -> bool:
        if self.heartbeat_at is None:
            return False
        return utcnow() - self.heartbeat_at < dt.timedelta(seconds=LEASE_SECONDS)


def describe_schedule(spec: JobSpec) -> str:
    """ "daily at 02:15 UTC", "Sundays at 03:30 UTC", "every 10 minutes", in words."""
    args = spec.trigger_args
    if spec.trigger == "cron":
        at = f"at {int(args.get('hour', 0)):02d}:{int(args.get('minute', 0)):02d} UTC"
        day = WEEKDAYS.get(str(args.get("day_of_week", "")), "daily")
        return f"{day} {at}"
    if spec.trigger == "interval":
        unit, amount = next(iter(args.items()))
        return f"every {unit.rstrip('s')}" if amount == 1 else f"every {amount} {unit}"
    return spec.trigger


def next_runs() -> dict[str, dt.datetime]:
    """Each stored job's next run (naive UTC), from APScheduler's table if it exists yet."""
    if not inspect(db.engine).has_table(JOB_TABLE):
        return {}
    stored = table(JOB_TABLE, column("id"), column("next_run_time"))
    rows = db.session.execute(select(stored.c.id, stored.c.next_run_time))
    return {
        job_id: dt.datetime.fromtimestamp(moment, dt.UTC).replace(tzinfo=None)
        for job_id, moment in rows
        if moment is not None
    }


def job_overview() -> tuple[SchedulerState, list[JobRow]]:
    """The scheduler's heartbeat and a row per declared job, in declaration order."""
    specs = declared_jobs()
    runs, upcoming = job_runs([spec.id for spec in specs]), next_runs()
    lease = db.session.scalar(select(SchedulerLease).where(SchedulerLease.name == "main"))
    state = SchedulerState(None, None)
    if lease is not None:
        state = SchedulerState(lease.holder, lease.heartbeat_at)
    rows = [
        JobRow(spec, describe_schedule(spec), runs.get(spec.id), upcoming.get(spec.id))
        for spec in specs
    ]
    return state, rows
