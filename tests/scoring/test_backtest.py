"""The backtest on a book whose churners show a planted decline in the 75 days before they leave
(tests/scoring/conftest.py): the learned model must find them ahead of time, not just run."""

from __future__ import annotations

from scoring.backtest import backtest, format_backtest

MONTHS = 9


def test_the_model_flags_most_churners_ahead_of_their_churn_and_the_scorecard_is_reported_beside(
    synthetic_book,
):
    as_of = synthetic_book(accounts=160)

    report = backtest(as_of, months=MONTHS, rounds=30, min_events=5)

    model, scorecard = report["model"], report["scorecard"]
    assert model["days_scored"] == MONTHS
    assert model["churned_accounts"] >= 20
    assert model["flagged_ahead_share"] >= 0.6
    assert model["median_lead_days"] > 0
    assert model["precision_top_decile"] >= 3 * report["base_rate_90d"]
    assert set(scorecard) == set(model)
    assert scorecard["days_scored"] == MONTHS
    assert scorecard["churned_accounts"] == model["churned_accounts"]
    assert 0 <= scorecard["precision_top_decile"] <= 1
    lines = format_backtest(report).splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert rows["model"][:2] == [str(MONTHS), f"{model['precision_top_decile']:.3f}"]
    assert rows["scorecard"][:2] == [str(MONTHS), f"{scorecard['precision_top_decile']:.3f}"]
