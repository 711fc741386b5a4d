"""Quiet hours: when an alert raised now may go out (pure: no Flask, no database)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def quiet_until(
    now: dt.datetime, start: dt.time | None, end: dt.time | None, zone: ZoneInfo
) -> dt.datetime | None:
    """The end of the quiet window `now` (naive UTC) falls in, as naive UTC; None when `now`
    is outside it or there is no window. `start` and `end` are local times in `zone`; a start
    after the end spans midnight (22:00-07:00); equal times mean no window."""
    if start is None or end is None or start == end:
        return None
    local = now.replace(tzinfo=dt.UTC).astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside, days_ahead = start <= clock < end, 0
    else:
        inside, days_ahead = clock >= start or clock < end, 1 if clock >= start else 0
    if not inside:
        return None
    release_day = local.date() + dt.timedelta(days=days_ahead)
    release = dt.datetime.combine(release_day, end, tzinfo=zone)
    return release.astimezone(dt.UTC).replace(tzinfo=None)
