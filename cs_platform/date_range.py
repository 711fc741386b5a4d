"""The one range of calendar dates the platform stores and scores, and the evergreen rule.

Scoring reads dates with pandas, whose timestamps end on 2262-04-11; the database holds far more.
So every entry point (the REST API, CRM syncs, usage imports) keeps account dates within
EARLIEST_DATE to LATEST_DATE, and the nightly run quarantines any row outside it that another
writer let in. CRMs mark contracts that never come up for renewal ("evergreen") with a far-future
renewal date such as 2999-12-31 or 9999-12-31: a renewal date on or after EVERGREEN_FROM means "no
renewal date" and is stored as NULL. Dates between LATEST_DATE and EVERGREEN_FROM (2300-01-01, a
typo of 2030 or 2003) are refused, so that someone fixes them at the source.
"""

from __future__ import annotations

import datetime as dt

EARLIEST_DATE = dt.date(1970, 1, 1)
LATEST_DATE = dt.date(2199, 12, 31)
EVERGREEN_FROM = dt.date(2900, 1, 1)
RANGE_TEXT = f"between {EARLIEST_DATE} and {LATEST_DATE}"
EVERGREEN_TEXT = f"a renewal date from {EVERGREEN_FROM} on means no renewal date (evergreen)"


def in_range(day: dt.date) -> bool:
    """Whether a date lies in the range every writer keeps to."""
    return EARLIEST_DATE <= day <= LATEST_DATE


def is_evergreen(renewal: dt.date) -> bool:
    """Whether a renewal date is a CRM's far-future mark of a contract that never renews."""
    return renewal >= EVERGREEN_FROM
