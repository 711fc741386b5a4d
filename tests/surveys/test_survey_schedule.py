"""Crontab rules mean what standard cron means: Sunday is 0 or 7, Monday 1, a rule naming both a
day of the month and weekdays fires on either, and a rule that can never fire is refused."""

from __future__ import annotations

import datetime as dt

import pytest

from surveys.schedule import ScheduleError, next_fire_times, validate_cron

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)  # a Friday


def weekdays(rule: str, count: int = 7) -> list[str]:
    return [moment.strftime("%a") for moment in next_fire_times(rule, count, NOW)]


@pytest.mark.parametrize(
    ("field", "day"),
    [("0", "Sun"), ("1", "Mon"), ("2", "Tue"), ("3", "Wed"), ("4", "Thu"), ("5", "Fri"),
     ("6", "Sat"), ("7", "Sun"), ("sun", "Sun"), ("mon", "Mon"), ("sat", "Sat")],
)  # fmt: skip
def test_every_weekday_number_and_name_fires_on_its_day(field, day):
    assert set(weekdays(f"0 6 * * {field}", 3)) == {day}


@pytest.mark.parametrize(
    ("field", "days"),
    [("1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}), ("mon-fri", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
     ("0,6", {"Sat", "Sun"}), ("5-7", {"Fri", "Sat", "Sun"}), ("fri-sun", {"Fri", "Sat", "Sun"}),
     ("*/2", {"Sun", "Tue", "Thu", "Sat"}), ("1-5/2", {"Mon", "Wed", "Fri"})],
)  # fmt: skip
def test_lists_ranges_and_steps_count_from_sunday(field, days):
    assert set(weekdays(f"0 6 * * {field}", 14)) == days


def test_a_rule_with_a_day_and_a_weekday_fires_on_either_as_cron_does():
    fired = [moment.date() for moment in next_fire_times("0 6 1 * mon", 6, NOW)]

    assert dt.date(2027, 1, 1) in fired  # the 1st, a Friday
    assert dt.date(2026, 12, 7) in fired  # a Monday


def test_the_next_sends_are_in_order_and_in_utc():
    sends = next_fire_times("30 6 * * 1", 5, NOW)

    assert [moment.isoformat() for moment in sends[:2]] == [
        "2026-12-07T06:30:00+00:00",
        "2026-12-14T06:30:00+00:00",
    ]
    assert len(sends) == 5


@pytest.mark.parametrize(
    ("rule", "reason"),
    [("0 0 31 2 *", "can never fire"), ("0 0 30 2 *", "can never fire"),
     ("0 0 * * 8", "not a weekday"), ("0 0 * * 5-1", "runs backwards"),
     ("0 0 * * */0", "bad step"), ("0 25 * * *", "not a valid crontab"),
     ("0 6 * *", "five fields")],
)  # fmt: skip
def test_rules_that_are_malformed_or_never_fire_are_refused(rule, reason):
    with pytest.raises(ScheduleError, match=reason):
        validate_cron(rule, NOW)


def test_a_rule_in_a_campaign_time_zone_fires_at_that_zone_s_wall_clock_hour_all_year():
    winter = next_fire_times("0 6 * * 1", 1, NOW, "Europe/Berlin")[0]
    summer = next_fire_times(
        "0 6 * * 1", 1, dt.datetime(2027, 6, 1, tzinfo=dt.UTC), "Europe/Berlin"
    )[0]

    assert winter.isoformat() == "2026-12-07T06:00:00+01:00"
    assert winter.astimezone(dt.UTC).hour == 5
    assert summer.isoformat() == "2027-06-07T06:00:00+02:00"
    assert summer.astimezone(dt.UTC).hour == 4


def test_an_unknown_time_zone_is_refused():
    with pytest.raises(ScheduleError, match="not a time zone"):
        validate_cron("0 6 * * 1", NOW, "Mars/Olympus_Mons")
