"""Schedule maths, pure: periods of recurring campaigns, send windows in the contact's time zone,
and drip spreading. No Flask, no database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

EPOCH = dt.date(2020, 1, 6)  # a Monday; periods count from here


class ScheduleError(ValueError):
    """A schedule setting that cannot work; the message says why."""


def validate_cron(expression: str) -> CronTrigger:
    """A 5-field crontab ("0 6 * * mon") as an APScheduler trigger in UTC, or ScheduleError."""
    if len((expression or "").split()) != 5:
        raise ScheduleError(
            f"{expression!r} is not a crontab rule: use five fields, minute hour day month weekday"
        )
    try:
        return CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        raise ScheduleError(f"{expression!r} is not a valid crontab rule: {exc}") from exc


def period_key(now: dt.datetime, period_days: int) -> str:
    """The period of a recurring campaign that `now` falls in: "p<n>", n counted from EPOCH."""
    if period_days < 1:
        raise ScheduleError("period_days must be at least 1")
    return f"p{(now.date() - EPOCH).days // period_days}"


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The time zone called `name`, UTC for unknown names (bad CRM data must not stop a send)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class Window:
    """The daily send window [start_hour, end_hour) in the contact's time zone."""

    start_hour: int = 9
    end_hour: int = 11
    weekdays_only: bool = True


def window_bounds(
    after: dt.datetime, tz_name: str, window: Window
) -> tuple[dt.datetime, dt.datetime]:
    """(opens, closes) as naive UTC of the first window that is still open at or after `after`.

    `opens` is `after` itself when `after` falls inside a window already.
    """
    tz = zone(tz_name)
    local = after.replace(tzinfo=dt.UTC).astimezone(tz)
    for day in range(8):
        date = local.date() + dt.timedelta(days=day)
        if window.weekdays_only and date.weekday() >= 5:
            continue
        midnight = dt.datetime.combine(date, dt.time(0), tzinfo=tz)
        opens = midnight + dt.timedelta(hours=window.start_hour)
        closes = midnight + dt.timedelta(hours=window.end_hour)
        if local < closes:
            return _naive_utc(max(local, opens)), _naive_utc(closes)
    raise ScheduleError("no send window within a week")  # unreachable for valid windows


def send_time(after: dt.datetime, tz_name: str, window: Window, spread_key: int) -> dt.datetime:
    """A minute inside the contact's next window, spread by `spread_key` so sends do not burst."""
    opens, closes = window_bounds(after, tz_name, window)
    minutes = max(1, int((closes - opens).total_seconds() // 60))
    return opens + dt.timedelta(minutes=(spread_key * 7919) % minutes)


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def drip_day(position: int, daily_cap: int | None) -> int:
    """Which day (0, 1, ...) the contact at `position` of the audience is sent on."""
    return 0 if not daily_cap else position // daily_cap
