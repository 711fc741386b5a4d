"""What changed: each account's move since last week and last month, split into its inputs."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from cs_platform.extensions import db
from scoring.models import HealthScore
from scoring.runs import score_accounts, train_models
from scoring.scorecard import Measure, Scorecard
from scoring.services import save_scorecard


def scores_on(day: dt.date) -> dict[int, HealthScore]:
    rows = db.session.scalars(select(HealthScore).where(HealthScore.scored_on == day))
    return {row.account_id: row for row in rows}


def test_the_model_splits_a_weeks_move_into_parts_that_add_up_to_it(synthetic_book):
    as_of = synthetic_book(accounts=160)
    train_models(as_of, months=6, rounds=30, min_events=5)
    week_ago = as_of - dt.timedelta(days=7)
    score_accounts(week_ago, raise_flags=False)
    score_accounts(as_of, raise_flags=False)
    before, now = scores_on(week_ago), scores_on(as_of)
    moved = [row for row in now.values() if abs(row.changes["7"]["delta"]) >= 2]
    assert moved
    for row in now.values():
        change = row.changes["7"]
        assert change["since"] == week_ago.isoformat()
        assert change["previous_score"] == pytest.approx(before[row.account_id].score, abs=0.05)
        assert change["delta"] == pytest.approx(row.score - change["previous_score"], abs=0.11)
    for row in moved:
        parts = row.changes["7"]["parts"]
        assert parts and all(part["sentence"] for part in parts)
        assert abs(parts[0]["points"]) >= abs(parts[-1]["points"])  # largest first
        assert "(was " in parts[0]["sentence"] or parts[0]["feature"] == "scoring_model"


def test_a_month_back_without_a_scoring_run_is_compared_with_what_todays_model_says_of_it(
    synthetic_book,
):
    as_of = synthetic_book(accounts=160)
    train_models(as_of, months=6, rounds=30, min_events=5)
    score_accounts(as_of, raise_flags=False)
    row = next(iter(scores_on(as_of).values()))
    month = row.changes["30"]
    assert month["since"] == (as_of - dt.timedelta(days=30)).isoformat()
    assert all(part["feature"] != "scoring_model" for part in month["parts"])


def test_a_changed_scorecard_is_one_part_of_the_move(synthetic_book, app):
    as_of = synthetic_book(accounts=40, churn_share=0.0)
    week_ago = as_of - dt.timedelta(days=7)
    score_accounts(week_ago, raise_flags=False)
    only_tickets = Scorecard(measures=(Measure("open_tickets", 1, bad=1, good=0),))
    save_scorecard(only_tickets, None)
    score_accounts(as_of, raise_flags=False)
    changes = [row.changes["7"] for row in scores_on(as_of).values()]
    assert any(p["feature"] == "scoring_model" for c in changes for p in c["parts"])
    for change in changes:
        assert (
            sum(p["points"] for p in change["parts"])
            == pytest.approx(change["delta"], abs=0.5 * (1 + len(change["parts"])))
            or len(change["parts"]) == 3
        )
