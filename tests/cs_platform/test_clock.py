"""One clock: "today" is the business day (BUSINESS_TIMEZONE, UTC by default) of UTC now, never
the host's local date. The suite runs with the host clock in America/Los_Angeles
(tests/conftest.py), so at 02:15 UTC the host is still on the day before."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from cs_platform import clock, create_app
from cs_platform.config import ConfigError
from cs_platform.extensions import db
from cs_platform.tasks.jobs import wake_snoozed_tasks
from scoring.jobs import nightly_scoring
from scoring.models import HealthScore
from tests.factories import AccountFactory, TaskFactory

# Naive UTC, as stored. In the future, so the real date can never be the one expected.
AT_0215_UTC = dt.datetime(2036, 3, 11, 2, 15)  # the nightly run; 3/10 evening in Los Angeles
AT_1230_UTC = dt.datetime(2036, 3, 10, 12, 30)  # already 3/11 in Auckland


@pytest.fixture
def now_is(monkeypatch):
    """Set the one clock's now (naive UTC)."""

    def set_now(moment: dt.datetime) -> None:
        monkeypatch.setattr(clock, "utcnow", lambda: moment)

    return set_now


def host_date(moment: dt.datetime) -> dt.date:
    """The host's local date at a naive-UTC instant (what `date.today()` would say then)."""
    return dt.datetime.fromtimestamp(moment.replace(tzinfo=dt.UTC).timestamp()).date()


def test_the_suite_runs_on_a_host_clock_that_is_still_on_yesterday_at_0215_utc():
    # Without a tz database TZ would silently mean UTC, and the tests below would prove nothing.
    assert host_date(AT_0215_UTC) == dt.date(2036, 3, 10)


def test_today_is_the_utc_date_by_default_though_the_host_is_still_on_yesterday(app, now_is):
    now_is(AT_0215_UTC)
    assert clock.today() == dt.date(2036, 3, 11)


def test_with_business_timezone_auckland_today_is_already_the_next_day(app, now_is, monkeypatch):
    monkeypatch.setitem(app.config, "BUSINESS_TIMEZONE", "Pacific/Auckland")
    now_is(AT_1230_UTC)
    assert clock.today() == dt.date(2036, 3, 11)


def test_outside_an_app_context_today_is_the_utc_date(app, now_is, monkeypatch):
    monkeypatch.setitem(app.config, "BUSINESS_TIMEZONE", "Pacific/Auckland")
    now_is(AT_1230_UTC)
    seen: list[dt.date] = []
    thread = threading.Thread(target=lambda: seen.append(clock.today()))  # no app context there
    thread.start()
    thread.join()
    assert seen == [dt.date(2036, 3, 10)]


def test_a_wrong_business_timezone_stops_start_up_with_one_line_naming_it(monkeypatch, tmp_path):
    monkeypatch.setenv("BUSINESS_TIMEZONE", "Europe/Berln")
    with pytest.raises(ConfigError) as refused:
        create_app(instance_path=str(tmp_path))
    assert str(refused.value) == (
        "BUSINESS_TIMEZONE='Europe/Berln' is not an IANA time zone name: use e.g. UTC or "
        "Europe/Berlin"
    )


def scored_days() -> set[dt.date]:
    return set(db.session.scalars(select(HealthScore.scored_on)))


def test_the_nightly_run_at_0215_utc_scores_the_utc_day_not_the_hosts_yesterday(app, now_is):
    AccountFactory.create_batch(2)
    now_is(AT_0215_UTC)
    nightly_scoring()
    assert scored_days() == {dt.date(2036, 3, 11)}


def test_a_nightly_slot_is_scored_as_of_its_date_in_the_business_zone(app, monkeypatch):
    AccountFactory.create_batch(2)
    monkeypatch.setitem(app.config, "BUSINESS_TIMEZONE", "America/Los_Angeles")
    nightly_scoring(slot=AT_0215_UTC)
    assert scored_days() == {dt.date(2036, 3, 10)}


def test_the_hourly_job_wakes_a_task_snoozed_until_the_utc_day_that_has_begun(app, now_is):
    task = TaskFactory(status="snoozed", snoozed_until=dt.date(2036, 3, 11))
    now_is(AT_0215_UTC)
    wake_snoozed_tasks()
    db.session.expire_all()
    assert task.status == "open"
