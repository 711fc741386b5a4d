"""What each declared job did, and which of its slots still need a run (catch-up).

`job_runs` keeps one row per declared job: the slot (the scheduled time) of its latest run, when
that run started and finished, its outcome and error, the process that ran it and how many
attempts the slot took. The scheduler writes it around every run, each write a short transaction
of its own, so a failing job still leaves its outcome behind.

Catch-up rules for cron jobs (interval jobs are due again within their interval anyway):
- a slot that passed while no scheduler ran is missed; a job declared `catch_up="every"` (nightly
  scoring: each day has its own scores) runs each missed slot, oldest first, at most
  CATCH_UP_SLOTS; `catch_up="latest"` (the purge, retraining) runs once, for the latest slot;
- a slot still "running" under another process was interrupted (its leader died): run again;
- a failed slot runs again, up to MAX_ATTEMPTS attempts;
- a job seen for the first time starts from its latest slot, as if it had run (no catch-up on a
  fresh install).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from cs_platform.extensions import Model, db
from cs_platform.models import utcnow

CATCH_UP_SLOTS = 7
MAX_ATTEMPTS = 3
# How far back a job's latest slot is looked for: a weekly job's last slot is at most 7 days ago.
LOOKBACK = dt.timedelta(days=8)
ERROR_CHARS = 500
OUTCOMES = ("first_seen", "running", "succeeded", "failed")


class JobRun(Model):
    """The latest run of a declared job."""

    __tablename__ = "job_runs"

    job_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    slot: Mapped[dt.datetime | None]
    outcome: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    caught_up: Mapped[bool] = mapped_column(default=False)
    holder: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(Text)

    @property
    def seconds(self) -> float | None:
        """How long the latest finished run took."""
        if self.started_at is None or self.finished_at is None or self.outcome == "running":
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 1)


def naive_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def fire_times(
    trigger: BaseTrigger, after: dt.datetime, until: dt.datetime
) -> Iterator[dt.datetime]:
    """The trigger's fire times in (after, until], as naive UTC."""
    moment = after.replace(tzinfo=dt.UTC) + dt.timedelta(seconds=1)
    end = until.replace(tzinfo=dt.UTC)
    previous = None
    while (moment := trigger.get_next_fire_time(previous, moment)) is not None and moment <= end:
        yield naive_utc(moment)
        previous, moment = moment, moment + dt.timedelta(seconds=1)


def latest_slot(trigger: BaseTrigger, now: dt.datetime) -> dt.datetime | None:
    """The trigger's last fire time at or before `now`, within LOOKBACK."""
    latest = None
    for latest in fire_times(trigger, now - LOOKBACK, now):  # noqa: B007
        pass
    return latest


def interrupted(run: JobRun, holder: str) -> bool:
    """Whether the run's slot must run again: it failed (attempts left) or its process died."""
    if run.outcome == "failed":
        return run.attempts < MAX_ATTEMPTS
    return run.outcome == "running" and run.holder != holder


def slots_to_catch_up(
    run: JobRun | None, trigger: BaseTrigger, every: bool, now: dt.datetime, holder: str
) -> list[dt.datetime]:
    """The slots of one job that still need a run, oldest first (see the module docstring)."""
    if run is None or run.slot is None:
        return []
    missed = list(fire_times(trigger, run.slot, now))
    if interrupted(run, holder):
        missed.insert(0, run.slot)
    return missed[-CATCH_UP_SLOTS:] if every else missed[-1:]


def job_runs(job_ids: list[str]) -> dict[str, JobRun]:
    """The stored runs of these jobs, by id."""
    rows = db.session.scalars(select(JobRun).where(JobRun.job_id.in_(job_ids)))
    return {run.job_id: run for run in rows}


def note_first_seen(job_id: str, slot: dt.datetime | None) -> None:
    """A job's row before its first run: its latest slot counts as done. Commits."""
    if db.session.get(JobRun, job_id) is None:
        db.session.add(JobRun(job_id=job_id, slot=slot, outcome="first_seen", attempts=0))
        db.session.commit()


def start_run(job_id: str, slot: dt.datetime, holder: str, caught_up: bool) -> bool:
    """Record that `slot` of the job starts now; False (nothing recorded) when that slot already
    succeeded or is running in this process (a duplicate firing). Commits."""
    run = db.session.get(JobRun, job_id, with_for_update=True) or JobRun(job_id=job_id)
    if run.slot == slot and (
        run.outcome == "succeeded" or (run.outcome == "running" and run.holder == holder)
    ):
        db.session.rollback()
        return False
    run.attempts = (run.attempts or 0) + 1 if run.slot == slot else 1
    run.slot, run.outcome, run.holder, run.caught_up = slot, "running", holder, caught_up
    run.started_at, run.finished_at, run.error = utcnow(), None, None
    db.session.add(run)
    db.session.commit()
    return True


def finish_run(job_id: str, slot: dt.datetime, error: BaseException | None) -> None:
    """Record the outcome of the job's run of `slot`. Commits."""
    db.session.rollback()  # whatever the job left unfinished
    run = db.session.get(JobRun, job_id, with_for_update=True)
    if run is None or run.slot != slot:
        return
    run.outcome = "failed" if error else "succeeded"
    run.finished_at = utcnow()
    run.error = error_text(error)
    db.session.commit()


def error_text(error: BaseException | None) -> str | None:
    """The error's type and first line, short: a database error's later lines hold the
    statement and its parameters, which may be personal data."""
    if error is None:
        return None
    first_line = next(iter(str(error).splitlines()), "")
    return f"{type(error).__name__}: {first_line}"[:ERROR_CHARS]
