"""The model code on plain DataFrames: health model, survival model, scorecard, encoder."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from scoring.encoding import FeatureEncoder, FeatureError
from scoring.features import days_to_next_renewal
from scoring.health_model import HealthModel
from scoring.scorecard import Measure, Scorecard, ScorecardError, band_for
from scoring.survival import CURVE_POINTS, TIE, SurvivalModel


def book(rows: int = 1200, seed: int = 1) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Accounts whose churn is driven by falling usage and low seat use; `noise` drives nothing."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "active_users_change_30d": rng.normal(0, 0.3, rows),
            "seat_utilisation": rng.uniform(0, 1, rows),
            "noise": rng.normal(size=rows),
            "plan": rng.choice(["starter", "growth", "enterprise"], rows),
        }
    )
    frame.loc[rng.random(rows) < 0.15, "seat_utilisation"] = np.nan
    hazard = np.exp(
        -4 * frame["active_users_change_30d"] - 2 * frame["seat_utilisation"].fillna(0.5)
    )
    months = pd.Series(rng.exponential(30 / hazard))
    churned = (months < 36).astype(int)
    return frame, months.clip(upper=36), churned


def test_health_model_ranks_churners_first_and_names_the_true_drivers():
    frame, _, churned = book()
    model = HealthModel.fit(frame.iloc[:900], churned.iloc[:900], rounds=40)
    probability = model.probability(frame.iloc[900:])
    held_out = churned.iloc[900:].to_numpy()
    assert probability[held_out == 1].mean() > probability[held_out == 0].mean() + 0.1
    assert list(model.importance())[:2] == ["active_users_change_30d", "seat_utilisation"]
    scored = model.score(frame.iloc[:5], green_at=70, red_below=40)
    assert ((scored["score"] >= 0) & (scored["score"] <= 100)).all()
    assert set(scored["band"]) <= {"green", "yellow", "red"}
    driver = scored["drivers"].iloc[0][0]
    assert set(driver) == {"feature", "value", "contribution", "sentence"}


def test_health_model_survives_a_round_trip_through_its_artifact():
    frame, _, churned = book(rows=400)
    model = HealthModel.fit(frame, churned, rounds=10)
    again = HealthModel.from_bytes(model.to_bytes())
    assert np.allclose(again.probability(frame), model.probability(frame))


def test_health_model_refuses_labels_of_one_class():
    frame, _, churned = book(rows=100)
    with pytest.raises(FeatureError, match="one class"):
        HealthModel.fit(frame, churned * 0, rounds=5)


def test_survival_model_gives_consistent_probabilities_and_a_falling_curve():
    frame, months, churned = book(rows=800)
    model = SurvivalModel.fit(frame, months, churned)
    assert model.concordance(frame, months, churned) > 0.65
    risk = model.predict(frame.head(20), pd.Series(np.full(20, 6.0)), pd.Series(np.full(20, 12.0)))
    assert (risk["p_churn_before_renewal"] >= risk["p_churn_90d"]).all()  # 12 months > 90 days
    assert (risk["expected_remaining_months"] > 0).all()
    curve = json.loads(risk["survival_curve"].iloc[0])
    assert [point[0] for point in curve] == list(CURVE_POINTS)
    survival = [point[1] for point in curve]
    assert survival == sorted(survival, reverse=True)
    assert SurvivalModel.from_bytes(model.to_bytes()).kind == model.kind


def test_survival_model_reports_a_ph_violation_and_lets_cross_validation_pick_the_family():
    rng = np.random.default_rng(4)
    rows = 1500
    risky = rng.integers(0, 2, rows)
    # Group 1 churns early or never (shape 0.5), group 0 wears out late (shape 3).
    months = np.where(risky, rng.weibull(0.5, rows) * 10, rng.weibull(3.0, rows) * 10)
    frame = pd.DataFrame({"risky": risky.astype(float), "noise": rng.normal(size=rows)})
    model = SurvivalModel.fit(frame, pd.Series(np.minimum(months, 20)), pd.Series(months < 20))
    summary = model.summary()
    assert "risky" in summary["ph_violations"]
    best = max(summary["candidates"], key=lambda c: c["c_index_cv"])
    chosen = next(c for c in summary["candidates"] if c["name"] == summary["chosen"])
    assert chosen["c_index_cv"] >= best["c_index_cv"] - TIE


def test_scorecard_spreads_a_missing_measures_weight_over_the_others():
    card = Scorecard((Measure("a", 50, bad=0, good=1), Measure("b", 50, bad=0, good=1)), 70, 40)
    scored = card.score(pd.DataFrame({"a": [1.0, 1.0, 0.5], "b": [0.0, np.nan, np.nan]}))
    assert scored["score"].tolist() == [50.0, 100.0, 50.0]
    assert scored["band"].tolist() == ["yellow", "green", "yellow"]
    assert scored["drivers"].iloc[0][0]["feature"] == "b"


def test_scorecard_refuses_measures_that_cannot_score():
    with pytest.raises(ScorecardError, match="'a'"):
        Scorecard((Measure("a", 10, bad=1, good=1),))
    with pytest.raises(ScorecardError, match="weight above 0"):
        Scorecard((Measure("a", 0, bad=0, good=1),))


def test_encoder_names_a_constant_or_empty_column_when_strict():
    frame = pd.DataFrame({"ok": [1, 2, 3], "same": [4, 4, 4], "empty": [None, None, None]})
    with pytest.raises(FeatureError, match="'same'"):
        FeatureEncoder.fit(frame, strict=True)
    lenient = FeatureEncoder.fit(frame)
    assert lenient.columns == ["ok"] and set(lenient.dropped) == {"same", "empty"}


def test_bands_follow_the_thresholds():
    assert band_for(np.array([80, 70, 69.9, 40, 39.9]), 70, 40).tolist() == [
        "green",
        "green",
        "yellow",
        "yellow",
        "red",
    ]


def test_days_to_renewal_roll_back_along_the_yearly_cycle():
    renewals = pd.Series(pd.to_datetime(["2027-03-01", "2026-07-01", None]))
    days = days_to_next_renewal(renewals, dt.date(2026, 1, 1))
    assert days.iloc[0] == pytest.approx(59, abs=1)  # 2026-03-01, a year before the stored date
    assert days.iloc[1] == 181
    assert np.isnan(days.iloc[2])
