"""The health model: chosen by out-of-fold evidence, held to its levers' directions, calibrated
without losing its ranking, scored relative to the book's base rate, and its moves explained."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from scoring.health_model import HealthModel, _folds, risk_score

DIRECTIONS = {"usage_change": -1, "open_tickets": 1}


def linear_book(rows: int = 1500, seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    """Churn log-odds linear in falling usage and open tickets; `arr` is context."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "usage_change": rng.normal(0, 0.3, rows),
            "open_tickets": rng.poisson(2, rows).astype(float),
            "arr": rng.lognormal(10, 1, rows),
        }
    )
    logit = -2.0 - 4 * frame["usage_change"] + 0.5 * frame["open_tickets"]
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, pd.Series(churned)


def interaction_book(rows: int = 2000, seed: int = 2) -> tuple[pd.DataFrame, pd.Series]:
    """Churn only where usage fell AND tickets piled up: no straight line separates it."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"usage_change": rng.normal(0, 0.3, rows), "open_tickets": rng.poisson(2, rows) * 1.0}
    )
    both = (frame["usage_change"] < -0.2) & (frame["open_tickets"] >= 3)
    p = np.where(both, 0.8, 0.04)
    return frame, pd.Series((rng.random(rows) < p).astype(int))


def test_a_linear_book_is_won_by_the_logistic_regression_and_the_report_says_why():
    frame, churned = linear_book()
    model = HealthModel.fit(frame, churned, directions=DIRECTIONS, context=("arr",))
    summary = model.summary()
    assert summary["learner"] == "logistic"
    assert {c["name"] for c in summary["candidates"]} >= {
        "logistic regression",
        "xgboost depth 2 eta 0.1",
    }
    assert "out-of-fold AUC" in summary["why"]


def test_a_book_with_an_interaction_is_won_by_xgboost():
    frame, churned = interaction_book()
    model = HealthModel.fit(frame, churned, directions=DIRECTIONS)
    assert model.summary()["learner"] == "xgboost"
    assert roc_auc_score(churned, model.probability(frame)) > 0.8


@pytest.mark.parametrize("book", [linear_book, interaction_book])
def test_a_lever_is_held_to_its_direction_even_when_the_data_pulls_the_other_way(book):
    frame, churned = book()
    rng = np.random.default_rng(5)
    # a spurious pattern: churners show more tickets *closed*, i.e. fewer open, by chance
    frame["open_tickets"] = np.where(churned == 1, 0, frame["open_tickets"] + rng.poisson(3))
    model = HealthModel.fit(frame, churned, directions=DIRECTIONS)
    probe = pd.concat([frame.iloc[:200]] * 6, ignore_index=True)
    probe["open_tickets"] = np.repeat(np.arange(6.0), 200)
    risk = model.probability(probe).reshape(6, 200)
    assert (np.diff(risk, axis=0) >= -1e-9).all()  # more open tickets never lowers the risk


def test_calibration_keeps_the_ranking_and_creates_no_ties():
    frame, churned = linear_book()
    model = HealthModel.fit(frame, churned)
    probability, margin = model.probability(frame), model.margin(frame)
    assert roc_auc_score(churned, probability) == pytest.approx(roc_auc_score(churned, margin))
    assert len(np.unique(probability)) == len(np.unique(margin))
    assert probability.min() > 0 and probability.max() < 1
    assert probability.mean() == pytest.approx(churned.mean(), abs=0.02)  # calibrated


def test_the_score_is_the_risk_relative_to_the_books_base_rate():
    assert risk_score(np.array([0.04, 0.02, 0.08, 0.16]), 0.04).tolist() == [50.0, 66.7, 33.3, 20.0]


def test_a_score_never_contradicts_the_probability_beside_it():
    frame, churned = linear_book()
    model = HealthModel.fit(frame, churned, directions=DIRECTIONS, context=("arr",))
    scored = model.score(frame, green_at=50, red_below=33)
    order = np.argsort(scored["churn_probability"].to_numpy())
    assert (np.diff(scored["score"].to_numpy()[order]) <= 0).all()
    above_average = scored["churn_probability"] > 1.01 * model.base_rate  # past score rounding
    assert (scored.loc[above_average, "band"] != "green").all()
    assert (scored.loc[scored["churn_probability"] > 2.1 * model.base_rate, "band"] == "red").all()


def test_drivers_are_levers_and_context_is_shown_apart():
    frame, churned = linear_book()
    model = HealthModel.fit(frame, churned, directions=DIRECTIONS, context=("arr",))
    scored = model.score(frame.iloc[:50], green_at=50, red_below=33)
    levers = {d["feature"] for row in scored["drivers"] for d in row}
    context = {d["feature"] for row in scored["context"] for d in row}
    assert levers <= {"usage_change", "open_tickets"} and levers
    assert context <= {"arr"}


def test_one_accounts_snapshots_stay_in_one_fold():
    y = np.array([0, 1] * 50)
    groups = pd.Series(np.repeat(np.arange(20), 5))
    for train, check in _folds(y, groups, seed=1):
        assert not set(groups.iloc[train]) & set(groups.iloc[check])


def test_the_parts_of_a_score_change_add_up_to_the_change():
    frame, churned = linear_book()
    model = HealthModel.fit(frame, churned, directions=DIRECTIONS)
    before = frame.iloc[:100].reset_index(drop=True)
    after = before.assign(usage_change=before["usage_change"] - 0.3)
    after.loc[:9, "usage_change"] = before.loc[:9, "usage_change"]  # ten rows do not move
    parts = model.score_change(before, after)
    moved = (
        model.score(after, green_at=50, red_below=33)["score"].to_numpy()
        - model.score(before, green_at=50, red_below=33)["score"].to_numpy()
    )
    assert parts.sum(axis=1).to_numpy() == pytest.approx(moved, abs=0.15)  # scores are rounded
    assert (parts.loc[10:, "usage_change"] < 0).all()  # falling usage costs points
    assert (parts["open_tickets"].abs() < 1e-9).all()


def test_health_model_survives_a_round_trip_through_its_artifact():
    frame, churned = interaction_book(rows=600)
    model = HealthModel.fit(frame, churned)
    again = HealthModel.from_bytes(model.to_bytes())
    assert np.allclose(again.probability(frame), model.probability(frame))
    assert again.summary() == model.summary()
