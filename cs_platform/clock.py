"""One clock: where "now" and "today" come from.

The rule: nothing in the product reads the host's clock in its local time zone (no
`date.today()`, no naive `datetime.now()`, no `time.localtime()`), because the host's zone is an
accident of deployment: on a host west of UTC the 02:15 UTC nightly run would score "yesterday".

- `utcnow()` is the one source of now: naive UTC, like every stored timestamp (on SQLite and
  PostgreSQL), and like the scheduler's job times and slots.
- `today()` is the current business day: the date, in the `BUSINESS_TIMEZONE` setting (an IANA
  name, default `UTC`), of `utcnow()`. Outside an app context it is the UTC date.
- `business_date(moment)` is the business day of a stored instant (a job's slot, say), so a job
  given its slot and a page asked today agree on which day it is.
- Pure modules (no Flask: `surveys.survey_metrics`, ...) do not read a clock: their callers
  pass the day in.

A kernel module: it imports no domain and no shell module.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_ZONE = "UTC"


def utcnow() -> dt.datetime:
    """Now as naive UTC: every stored timestamp is naive UTC, on SQLite and PostgreSQL."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    """The time zone of an IANA name (cached; raises ZoneInfoNotFoundError / ValueError)."""
    return ZoneInfo(name)


def business_zone() -> ZoneInfo:
    """The app's BUSINESS_TIMEZONE in an app context, else UTC."""
    name = current_app.config.get("BUSINESS_TIMEZONE") if has_app_context() else None
    return zone(name or DEFAULT_ZONE)


def business_date(moment: dt.datetime) -> dt.date:
    """The business day of an instant: naive means UTC (as stored), aware is converted."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(business_zone()).date()


def today() -> dt.date:
    """The current business day: today's date in BUSINESS_TIMEZONE (UTC without an app)."""
    return business_date(utcnow())
