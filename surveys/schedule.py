"""Schedule maths, pure: periods of recurring campaigns, send windows in the contact's time zone,
sampling, and drip spreading. No Flask, no database."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

EPOCH = dt.date(2020, 1, 6)  # a Monday; periods count from here


class ScheduleError(ValueError):
    """A schedule setting that cannot work; the message says why."""


# Standard cron numbers weekdays from Sunday = 0 (7 is Sunday too); APScheduler 3 from Monday = 0.
CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
CHECK_YEARS = 5  # a rule with no time within this many years is refused as never firing


def validate_cron(
    expression: str, now: dt.datetime | None = None, timezone: str = "UTC"
) -> BaseTrigger:
    """A 5-field crontab rule with standard cron's meaning, as an APScheduler trigger in the
    IANA `timezone` (its hours are that zone's wall-clock hours, summer time included):
    weekdays counted from Sunday = 0 (or 7), and a rule that names both days of the month and
    weekdays firing on either, as cron does. ScheduleError for a rule that is malformed or can
    never fire ("0 0 31 2 *"), or an unknown time zone."""
    tz = known_zone(timezone)
    fields = (expression or "").split()
    if len(fields) != 5:
        raise ScheduleError(
            f"{expression!r} is not a crontab rule: use five fields, minute hour day month weekday"
        )
    minute, hour, day, month, weekday = fields
    try:
        weekday = apscheduler_weekdays(weekday)
        parts = [(day, weekday)]
        if day not in ("*", "?") and weekday != "*":  # cron's "either" rule
            parts = [(day, "*"), ("*", weekday)]
        triggers = [
            CronTrigger(minute=minute, hour=hour, day=d, month=month, day_of_week=w, timezone=tz)
            for d, w in parts
        ]
    except ValueError as exc:
        raise ScheduleError(f"{expression!r} is not a valid crontab rule: {exc}") from exc
    trigger = triggers[0] if len(triggers) == 1 else OrTrigger(triggers)
    check_it_fires(expression, trigger, now or dt.datetime.now(dt.UTC))
    return trigger


def check_it_fires(expression: str, trigger: BaseTrigger, now: dt.datetime) -> None:
    first = trigger.get_next_fire_time(None, now)
    if first is None or first > now + dt.timedelta(days=366 * CHECK_YEARS):
        raise ScheduleError(f"{expression!r} can never fire: no such day comes")


def known_zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or ScheduleError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"{name!r} is not a time zone: use a name like Europe/Berlin") from None


def next_fire_times(
    expression: str, count: int, now: dt.datetime, timezone: str = "UTC"
) -> list[dt.datetime]:
    """The next `count` times a crontab rule of `timezone` fires after `now` (aware, in that
    zone)."""
    trigger, previous = validate_cron(expression, now, timezone), None
    times: list[dt.datetime] = []
    moment = now
    while len(times) < count:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        times.append(fire)
        previous, moment = fire, fire + dt.timedelta(seconds=1)
    return times


def apscheduler_weekdays(field: str) -> str:
    """Standard cron's weekday field as APScheduler reads it: day names, never numbers."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for token in field.lower().split(","):
        days |= weekdays_of(token)
    return ",".join(CRON_WEEKDAYS[number] for number in sorted(days))


def weekdays_of(token: str) -> set[int]:
    """The weekdays (0 = Sunday) of one item: "1", "mon", "1-5", "mon-fri", "*/2", "1-5/2"."""
    span, _, step = token.partition("/")
    if step and not (step.isdecimal() and int(step) > 0):
        raise ValueError(f"bad step in {token!r}")
    if span == "*":
        first, last = 0, 6
    else:
        start, dash, end = span.partition("-")
        first = weekday_number(start, end_of_range=False)
        last = weekday_number(end, end_of_range=True) if dash else (6 if step else first)
    if last < first:
        raise ValueError(f"the weekday range {token!r} runs backwards")
    return {number % 7 for number in range(first, last + 1, int(step or 1))}


def weekday_number(text: str, end_of_range: bool) -> int:
    """0-7 or a three-letter day name; Sunday ends a range as 7 ("fri-sun")."""
    if text.isdecimal() and int(text) <= 7:
        return int(text)
    if text in CRON_WEEKDAYS:
        number = CRON_WEEKDAYS.index(text)
        return 7 if end_of_range and number == 0 else number
    raise ValueError(f"{text!r} is not a weekday (0-7, Sunday = 0 or 7, or sun-sat)")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
QUARTER_MONTHS = "1,4,7,10"


@dataclass(frozen=True)
class Preset:
    """A schedule offered without crontab: daily, weekly on a weekday, monthly or quarterly on
    a day of the month (1-28, so that no month is skipped), at an hour, in UTC."""

    kind: str  # daily, weekly, monthly, quarterly
    hour: int = 6
    weekday: str = "mon"
    day: int = 1

    def cron(self) -> str:
        """The crontab rule of the preset."""
        day, month, weekday = {
            "daily": ("*", "*", "*"),
            "weekly": ("*", "*", self.weekday),
            "monthly": (str(self.day), "*", "*"),
            "quarterly": (str(self.day), QUARTER_MONTHS, "*"),
        }[self.kind]
        return f"0 {self.hour} {day} {month} {weekday}"


def preset_of(expression: str | None) -> Preset | None:
    """The preset whose rule `expression` is, or None when only crontab can say it."""
    fields = (expression or "").split()
    if len(fields) != 5 or fields[0] != "0" or not fields[1].isdecimal():
        return None
    hour, day, month, weekday = int(fields[1]), fields[2], fields[3], fields[4]
    if hour > 23:
        return None
    if (day, month) == ("*", "*"):
        if weekday == "*":
            return Preset("daily", hour)
        return Preset("weekly", hour, weekday=weekday) if weekday in WEEKDAYS else None
    if weekday != "*" or not day.isdecimal() or not 1 <= int(day) <= 28:
        return None
    kinds = {"*": "monthly", QUARTER_MONTHS: "quarterly"}
    return Preset(kinds[month], hour, day=int(day)) if month in kinds else None


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


def send_time(
    after: dt.datetime, tz_name: str, window: Window, spread_key: int, day: int = 0
) -> dt.datetime:
    """A minute inside the contact's window, spread by `spread_key` so sends do not burst.

    The window is the first one open at or after `after` (day 0), or the one of the `day`-th
    sending day after it: the drip of a campaign counts sending days, so a weekdays-only window
    never piles the weekend's share onto Monday.
    """
    opens, minutes = send_slot(after, tz_name, window, day)
    return opens + dt.timedelta(minutes=spread_minute(spread_key, minutes))


def send_slot(
    after: dt.datetime, tz_name: str, window: Window, day: int = 0
) -> tuple[dt.datetime, int]:
    """(opens, minutes) of the window `send_time` places a send in: when it opens (naive UTC)
    and how many whole minutes it stays open (at least 1)."""
    if day:
        after = _sending_day_start(after, tz_name, window, day)
    opens, closes = window_bounds(after, tz_name, window)
    return opens, max(1, int((closes - opens).total_seconds() // 60))


SPREAD_STEP = 7919  # a prime: consecutive keys land far apart in the window


def spread_minute(spread_key: int, minutes: int) -> int:
    """The minute of a `minutes`-long window that the send with `spread_key` takes (planning
    on PostgreSQL computes the same `key * SPREAD_STEP % minutes` in SQL)."""
    return (spread_key * SPREAD_STEP) % minutes


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _sending_day_start(after: dt.datetime, tz_name: str, window: Window, day: int) -> dt.datetime:
    """Local midnight (as naive UTC) of the `day`-th sending day after the first window."""
    tz = zone(tz_name)
    first, _ = window_bounds(after, tz_name, window)
    date = first.replace(tzinfo=dt.UTC).astimezone(tz).date()
    return _naive_utc(dt.datetime.combine(add_sending_days(date, day, window), dt.time(0), tz))


def add_sending_days(date: dt.date, days: int, window: Window) -> dt.date:
    """`date` moved on by `days` days that have a window (weekdays only when the window is).

    `date` is itself a sending day (the date of a window), so whole weeks keep the weekday.
    """
    if not window.weekdays_only:
        return date + dt.timedelta(days=days)
    weeks, rest = divmod(days, 5)
    date += dt.timedelta(weeks=weeks)
    for _ in range(rest):
        date += dt.timedelta(days=1)
        while date.weekday() >= 5:
            date += dt.timedelta(days=1)
    return date


def in_sample(campaign_id: int, contact_id: int, period: str, percent: int) -> bool:
    """Whether the contact is in the `percent` % of the audience a campaign asks in a period.

    A hash rather than a random draw, so every run of the period gives the same answer and a
    re-run never picks anybody new; the period is part of it, so the rest get their turn later.
    Each contact is decided on its own (the share is exact on average), which keeps the answer
    stable while the audience changes and works for one-contact periods such as a ticket.
    """
    if percent >= 100:
        return True
    digest = hashlib.sha256(f"{campaign_id}:{period}:{contact_id}".encode()).digest()
    return digest[:8] < sample_cutoff(percent)


def sample_cutoff(percent: int) -> bytes:
    """A contact is in the sample when the first 8 bytes of its sha256 (compared as bytes,
    which is comparing them as a big-endian number) are below this: `percent` % of 2**64,
    rounded up. Planning on PostgreSQL compares the same bytes in SQL."""
    return (-(-percent * 2**64 // 100)).to_bytes(8, "big")


def daily_quota(audience: int, daily_cap: int | None, spread_days: int | None) -> int | None:
    """Invitations per sending day: the audience spread over `spread_days` (rounded up) or the
    daily cap, whichever is smaller; None sends everyone on the first day."""
    limits = [daily_cap] if daily_cap else []
    if spread_days and audience:
        limits.append(math.ceil(audience / spread_days))
    return min(limits, default=None)


def drip_day(position: int, per_day: int | None) -> int:
    """Which sending day (0, 1, ...) the contact at `position` of the audience is sent on."""
    return 0 if not per_day else position // per_day
