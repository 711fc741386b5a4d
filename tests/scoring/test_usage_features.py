"""The usage features read one figure per account and day across usage sources: the largest any
source reported, so a day two sources saw is counted once and never summed."""

from __future__ import annotations

import datetime as dt

import pytest

from integrations.usage import write_usage
from scoring.features import features_as_of
from tests.factories import AccountFactory

TODAY = dt.date(2026, 6, 1)
YESTERDAY, TWO_DAYS_AGO = TODAY - dt.timedelta(days=1), TODAY - dt.timedelta(days=2)


def usage(account_id: int, day: dt.date, users: int, features: int) -> dict:
    return {"account_id": account_id, "day": day, "active_users": users, "events": 0,
            "features_used": features, "feature_counts": None}  # fmt: skip


def test_health_features_take_the_largest_figure_of_each_day_across_sources(app):
    account = AccountFactory(seats=40)
    write_usage([usage(account.id, YESTERDAY, 10, 2)], "csv")
    write_usage(
        [usage(account.id, YESTERDAY, 4, 6), usage(account.id, TWO_DAYS_AGO, 3, 1)], "events"
    )

    row = features_as_of(TODAY).loc[account.id]

    assert row["active_users"] == pytest.approx((10 + 3) / 2)  # two days, each counted once
    assert row["features_used"] == pytest.approx((6 + 1) / 2)
    assert row["seat_utilisation"] == pytest.approx(6.5 / 40)
