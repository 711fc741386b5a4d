"""Features of a past day read the CRM fields then in force from the account history, so training
snapshots and backtests do not see later CRM changes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import insert

from cs_platform.extensions import db
from cs_platform.models import AccountChange
from scoring.features import features_as_of
from tests.factories import AccountFactory

TODAY = dt.date(2026, 6, 1)
PAST = dt.date(2026, 3, 1)


def change(account_id: int, field: str, old: str, new: str, at: str) -> dict:
    return {
        "account_id": account_id,
        "field": field,
        "old_value": old,
        "new_value": new,
        "changed_at": dt.datetime.fromisoformat(at),
        "source": "hubspot",
    }


def crm_fields(day: dt.date, account_id: int) -> tuple:
    row = features_as_of(day).loc[account_id]
    return row["arr"], row["plan"], row["seats"], row["days_to_renewal"]


def test_a_past_day_sees_the_crm_values_then_in_force_and_today_sees_the_current_ones(app):
    cut = AccountFactory(arr=Decimal("40000.00"), plan="starter", seats=10,
                         renewal_date=dt.date(2026, 9, 1))  # fmt: skip
    steady = AccountFactory(arr=Decimal("48000.00"), plan="growth", seats=40)
    db.session.execute(
        insert(AccountChange),
        [
            change(cut.id, "seats", "30", "25", "2026-02-01 09:00"),  # before: already in force
            change(cut.id, "arr", "60000.00", "40000.00", "2026-03-10 10:00"),
            change(cut.id, "seats", "25", "18", "2026-03-15 10:00"),  # the first one after wins
            change(cut.id, "seats", "18", "10", "2026-05-01 10:00"),
            change(cut.id, "plan", "growth", "starter", "2026-04-01 10:00"),
            change(cut.id, "renewal_date", "2026-04-15", "2026-09-01", "2026-04-10 10:00"),
        ],
    )
    db.session.commit()

    assert crm_fields(PAST, cut.id) == (60000.0, "growth", 25.0, 45.0)
    assert crm_fields(dt.date(2026, 3, 10), cut.id)[0] == 40000.0  # known by the end of the day
    assert crm_fields(TODAY, cut.id) == (40000.0, "starter", 10.0, 92.0)
    assert crm_fields(PAST, steady.id)[:3] == (48000.0, "growth", 40.0)


def test_an_account_whose_contract_start_was_moved_later_is_live_on_the_days_before_the_move(app):
    account = AccountFactory(contract_start=dt.date(2026, 5, 1))
    db.session.execute(
        insert(AccountChange),
        [change(account.id, "contract_start", "2025-05-01", "2026-05-01", "2026-05-01 08:00")],
    )
    db.session.commit()

    frame = features_as_of(PAST)

    assert account.id in frame.index
    assert frame.loc[account.id, "tenure_months"] > 9
