"""Job runs: which slots a declared job missed, and the record of each run."""

from __future__ import annotations

import datetime as dt

import pytest
from apscheduler.triggers.cron import CronTrigger

from cs_platform.extensions import db
from cs_platform.job_runs import (
    CATCH_UP_SLOTS,
    MAX_ATTEMPTS,
    JobRun,
    error_text,
    finish_run,
    fire_times,
    latest_slot,
    slots_to_catch_up,
    start_run,
)

NIGHTLY = CronTrigger(hour=2, minute=15, timezone=dt.UTC)
NOW = dt.datetime(2026, 12, 4, 9, 0)
TONIGHT = dt.datetime(2026, 12, 4, 2, 15)
ME, DEAD_LEADER = "host:100:aaaa", "host:99:bbbb"


def night(days_ago: int) -> dt.datetime:
    return TONIGHT - dt.timedelta(days=days_ago)


def run(slot: dt.datetime, outcome: str, holder: str = ME, attempts: int = 1) -> JobRun:
    return JobRun(job_id="nightly", slot=slot, outcome=outcome, holder=holder, attempts=attempts)


def missed(stored: JobRun | None, every: bool = True) -> list[dt.datetime]:
    return slots_to_catch_up(stored, NIGHTLY, every, NOW, ME)


def test_fire_times_are_the_slots_after_one_up_to_and_including_now():
    assert list(fire_times(NIGHTLY, night(3), NOW)) == [night(2), night(1), night(0)]
    assert list(fire_times(NIGHTLY, night(1), TONIGHT)) == [TONIGHT]
    assert latest_slot(NIGHTLY, NOW) == TONIGHT
    assert latest_slot(NIGHTLY, TONIGHT - dt.timedelta(seconds=1)) == night(1)


def test_a_job_that_ran_its_latest_slot_has_nothing_to_make_up():
    assert missed(run(TONIGHT, "succeeded")) == []
    assert missed(run(TONIGHT, "first_seen", holder=None)) == []


def test_a_job_seen_for_the_first_time_makes_nothing_up():
    assert missed(None) == []


def test_every_missed_night_runs_oldest_first_when_the_job_wants_each():
    assert missed(run(night(3), "succeeded")) == [night(2), night(1), night(0)]


def test_only_the_latest_missed_slot_runs_for_a_latest_job():
    assert missed(run(night(3), "succeeded"), every=False) == [TONIGHT]


def test_a_long_outage_makes_up_at_most_the_last_week():
    slots = missed(run(night(30), "succeeded"))
    assert len(slots) == CATCH_UP_SLOTS
    assert slots[-1] == TONIGHT


def test_a_run_whose_leader_died_runs_again():
    assert missed(run(TONIGHT, "running", holder=DEAD_LEADER)) == [TONIGHT]
    assert missed(run(night(1), "running", holder=DEAD_LEADER)) == [night(1), TONIGHT]


def test_a_run_still_going_in_this_process_is_left_alone():
    assert missed(run(TONIGHT, "running", holder=ME)) == []


def test_a_failed_run_is_tried_again_until_its_attempts_are_spent():
    assert missed(run(TONIGHT, "failed", attempts=MAX_ATTEMPTS - 1)) == [TONIGHT]
    assert missed(run(TONIGHT, "failed", attempts=MAX_ATTEMPTS)) == []
    assert missed(run(night(1), "failed", attempts=MAX_ATTEMPTS)) == [TONIGHT]


@pytest.mark.usefixtures("app")
def test_a_run_is_recorded_from_start_to_outcome_and_a_done_slot_does_not_run_twice():
    assert start_run("nightly", TONIGHT, ME, caught_up=True)
    stored = db.session.get(JobRun, "nightly")
    assert (stored.outcome, stored.attempts, stored.caught_up) == ("running", 1, True)
    assert not start_run("nightly", TONIGHT, ME, caught_up=False)  # running here already

    finish_run("nightly", TONIGHT, None)
    stored = db.session.get(JobRun, "nightly")
    assert (stored.outcome, stored.error) == ("succeeded", None)
    assert stored.seconds is not None and stored.seconds >= 0
    assert not start_run("nightly", TONIGHT, DEAD_LEADER, caught_up=True)


@pytest.mark.usefixtures("app")
def test_a_failed_slot_counts_its_attempts_and_keeps_the_first_line_of_its_error():
    error = RuntimeError(
        "database is locked\n[SQL: INSERT ...]\n[parameters: ('ada@example.com',)]"
    )
    for attempt in (1, 2):
        assert start_run("nightly", TONIGHT, ME, caught_up=False)
        finish_run("nightly", TONIGHT, error)
        stored = db.session.get(JobRun, "nightly")
        assert (stored.outcome, stored.attempts) == ("failed", attempt)
    assert stored.error == "RuntimeError: database is locked"
    assert start_run("nightly", night(-1), ME, caught_up=False)
    assert db.session.get(JobRun, "nightly").attempts == 1  # a new slot starts over


def test_error_text_is_short_and_names_the_error_type():
    assert error_text(None) is None
    assert error_text(ValueError("x" * 2000)).startswith("ValueError: xxx")
    assert len(error_text(ValueError("x" * 2000))) == 500
