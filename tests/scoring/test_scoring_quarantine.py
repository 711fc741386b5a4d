"""The nightly run quarantines the accounts whose data it cannot score (a date pandas cannot hold
or outside the platform's range, a number that is not finite): it names them on its ScoringRun,
logs them and shows them to admins, and scores everyone else."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert, select, text

from cs_platform.extensions import db
from cs_platform.models import AccountChange
from scoring.features import FEATURES, feature_snapshot, features_as_of, number_problems
from scoring.models import HealthScore, ScoringRun
from scoring.runs import score_accounts
from tests.factories import AccountFactory

TODAY = dt.date(2026, 6, 1)
PAST = dt.date(2026, 3, 1)


def write_straight_into_the_database(account_id: int, column: str, value: dt.date) -> None:
    """A raw UPDATE, as a writer that skips every validation would do it."""
    db.session.execute(
        text(f"UPDATE accounts SET {column} = :value WHERE id = :id"),
        {"value": value, "id": account_id},
    )
    db.session.commit()


def history(account_id: int, field: str, old: str, new: str) -> None:
    """A history row written after PAST, so that PAST sees `old` as the value then in force."""
    db.session.execute(
        insert(AccountChange),
        [{"account_id": account_id, "field": field, "old_value": old, "new_value": new,
          "changed_at": dt.datetime(2026, 4, 1, 9), "source": "hubspot"}],
    )  # fmt: skip
    db.session.commit()


def quarantined_on(day: dt.date) -> dict[int, str]:
    return dict(feature_snapshot(day).quarantined.itertuples(index=False))


def test_a_renewal_date_written_past_the_range_is_quarantined_and_every_other_account_scored(
    app, caplog
):
    bad, *good = AccountFactory.create_batch(4)
    write_straight_into_the_database(bad.id, "renewal_date", dt.date(2300, 1, 1))

    with caplog.at_level(logging.WARNING, logger="scoring.runs"):
        summary = score_accounts(TODAY)
    db.session.commit()

    scored = set(db.session.scalars(select(HealthScore.account_id)))
    assert scored == {account.id for account in good}
    assert (summary.accounts, summary.quarantined) == (3, 1)
    run = db.session.scalars(select(ScoringRun)).one()
    reason = "renewal date 2300-01-01 out of range"
    assert (run.quarantined, run.quarantined_accounts) == (
        1,
        [{"account_id": bad.id, "reason": reason}],
    )
    assert (
        run.quarantine_notice() == f"1 account was not scored on {TODAY}: account {bad.id} {reason}"
    )
    logged = [r for r in caplog.records if getattr(r, "account_id", None) == bad.id]
    assert [r.reason for r in logged] == [reason]


def test_a_run_without_bad_data_quarantines_nothing(app):
    AccountFactory.create_batch(2)

    score_accounts(TODAY)
    db.session.commit()

    run = db.session.scalars(select(ScoringRun)).one()
    assert (run.accounts, run.quarantined, run.quarantined_accounts) == (2, 0, [])


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("renewal_date", dt.date(2300, 1, 1), "renewal date 2300-01-01 out of range"),
        ("renewal_date", dt.date(2200, 1, 1), "renewal date 2200-01-01 out of range"),
        ("contract_start", dt.date(1900, 1, 1), "contract start 1900-01-01 out of range"),
        ("churned_at", dt.date(2300, 1, 1), "churn date 2300-01-01 out of range"),
    ],
)
def test_a_date_outside_the_range_quarantines_its_account(app, column, value, reason):
    bad, good = AccountFactory.create_batch(2)
    write_straight_into_the_database(bad.id, column, value)

    snapshot = feature_snapshot(TODAY)

    assert quarantined_on(TODAY) == {bad.id: reason}
    assert list(snapshot.features.index) == [good.id]


@pytest.mark.parametrize("evergreen", [dt.date(2999, 12, 31), dt.date(9999, 12, 31)])
def test_an_evergreen_renewal_date_in_the_database_reads_as_no_renewal_date(app, evergreen):
    account = AccountFactory()
    write_straight_into_the_database(account.id, "renewal_date", evergreen)

    features = features_as_of(TODAY)

    assert quarantined_on(TODAY) == {}
    assert np.isnan(features.loc[account.id, "days_to_renewal"])


def test_a_bad_date_in_the_history_quarantines_only_the_days_it_was_in_force(app):
    account = AccountFactory(renewal_date=dt.date(2027, 3, 1))
    history(account.id, "renewal_date", "2300-01-01", "2027-03-01")

    assert quarantined_on(PAST) == {account.id: "renewal date 2300-01-01 out of range"}
    assert quarantined_on(TODAY) == {}


@pytest.mark.parametrize(
    ("field", "old", "reason"),
    [
        ("arr", "Infinity", "arr is not a finite number (inf)"),
        ("arr", "-inf", "arr is not a finite number (-inf)"),
        ("seats", "NaN", "seats is not a finite number (nan)"),
        ("arr", "lots", "arr is not a finite number (nan)"),
        ("contract_start", "soon", "contract start soon out of range"),
    ],
)
def test_a_value_in_the_history_that_is_no_number_or_date_quarantines_its_account(
    app, field, old, reason
):
    bad, good = AccountFactory.create_batch(2)
    history(bad.id, field, old, "40")

    assert quarantined_on(PAST) == {bad.id: reason}
    assert list(features_as_of(PAST).index) == [good.id]


def test_an_infinite_feature_is_quarantined_and_an_unknown_one_is_not():
    numbers = [c for c in FEATURES if c not in ("plan", "segment")]
    frame = pd.DataFrame(1.0, index=[7, 8, 9], columns=numbers)
    frame.loc[7, "active_users_change_30d"] = np.inf
    frame.loc[8, "nps_latest"] = np.nan  # no answer yet: unknown, not bad

    problems = number_problems(frame)

    assert problems.to_dict() == {
        7: "active_users_change_30d is not a finite number (inf)",
        8: "",
        9: "",
    }


def test_admins_see_which_accounts_the_last_run_did_not_score(app, make_user, login):
    bad = AccountFactory()
    write_straight_into_the_database(bad.id, "renewal_date", dt.date(2300, 1, 1))
    score_accounts(TODAY)
    db.session.commit()

    page = login(make_user("admin")).get("/admin/scoring/scorecard")

    assert page.status_code == 200
    assert (
        f"1 account was not scored on {TODAY}: account {bad.id} renewal date 2300-01-01 out of"
        " range" in page.get_data(as_text=True)
    )


def test_the_scorecard_page_says_nothing_of_quarantine_after_a_clean_run(app, make_user, login):
    AccountFactory()
    score_accounts(TODAY)
    db.session.commit()

    page = login(make_user("admin")).get("/admin/scoring/scorecard")

    assert 'id="quarantined"' not in page.get_data(as_text=True)
