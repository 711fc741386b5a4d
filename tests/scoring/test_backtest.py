"""The backtest on a book whose churners show a planted decline in the 75 days before they leave
(tests/scoring/conftest.py): the learned model must find them ahead of time, not just run, and
replays whose 90-day outcome is not yet known must be kept apart from the complete ones."""

from __future__ import annotations

import datetime as dt

import numpy as np

from scoring.backtest import backtest, format_backtest, replay_days

MONTHS = 9


def test_the_model_flags_most_churners_ahead_of_their_churn_and_the_scorecard_is_reported_beside(
    synthetic_book,
):
    as_of = synthetic_book(accounts=160)

    report = backtest(as_of, months=MONTHS, rounds=30, min_events=5)

    model, scorecard = report["model"], report["scorecard"]
    assert 0 < model["days_scored"] <= MONTHS
    assert model["churned_accounts"] >= 20
    assert model["flagged_ahead_share"] >= 0.6
    assert model["median_lead_days"] > 0
    assert model["precision_top_decile"] >= 3 * report["base_rate_90d"], report
    assert set(scorecard) == set(model)
    assert scorecard["days_scored"] == MONTHS
    assert scorecard["churned_accounts"] >= model["churned_accounts"]  # scored on more days
    assert 0 <= scorecard["precision_top_decile"] <= 1
    lines = format_backtest(report).splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:4]}
    assert rows["model"][:2] == [str(model["days_scored"]), f"{model['precision_top_decile']:.3f}"]
    assert rows["scorecard"][:2] == [str(MONTHS), f"{scorecard['precision_top_decile']:.3f}"]


def test_replays_whose_90_day_window_is_still_open_come_after_the_complete_ones():
    as_of = dt.date(2026, 6, 1)

    days = replay_days(as_of, 4)

    assert len(days) == 6 and days == sorted(days)
    assert [(as_of - day).days >= 90 for day in days] == [True] * 4 + [False] * 2
    assert days[-1] == as_of - dt.timedelta(days=30)


def test_open_window_replays_are_reported_apart_and_not_averaged_into_the_base_rate(
    synthetic_book,
):
    as_of = synthetic_book(accounts=80)

    report = backtest(as_of, months=3, rounds=10, min_events=5)

    complete = [row for row in report["days"] if row["complete"]]
    open_days = [row for row in report["days"] if not row["complete"]]
    assert len(complete) == 3 and len(open_days) == 2
    assert all((as_of - dt.date.fromisoformat(r["day"])).days < 90 for r in open_days)
    weights = [row["accounts"] for row in complete]
    rates = [row["base_rate_90d"] for row in complete]
    assert report["base_rate_90d"] == round(float(np.average(rates, weights=weights)), 4)
    assert report["accounts_days"] == sum(weights)
    assert report["scorecard"]["days_scored"] == 3
    assert report["open_window"]["scorecard"]["days_scored"] == 2
    assert report["open_window"]["accounts_days"] == sum(row["accounts"] for row in open_days)
    text = format_backtest(report)
    assert "Reported apart: 2 replays less than 90 days before" in text
