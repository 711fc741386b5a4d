"""`flask scoring evaluate`: the held-out report on any CSV, and clear errors on bad files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scoring.evaluate import EvaluateError, evaluate, format_report


def history(rows: int = 300, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    contract = rng.choice(["monthly", "yearly"], rows)
    charges = rng.uniform(20, 100, rows)
    hazard = np.exp(0.02 * charges + np.where(contract == "monthly", 1.0, -1.0))
    tenure = rng.exponential(60 / hazard)
    return pd.DataFrame(
        {
            "customer": [f"c{i}" for i in range(rows)],
            "tenure": np.minimum(tenure, 72).round(1),
            "churn": np.where(tenure < 72, "Yes", "No"),
            "contract": contract,
            "charges": [f"{c:.2f}" if i % 50 else " " for i, c in enumerate(charges)],
        }
    )


def test_evaluate_reports_held_out_and_k_fold_metrics_with_a_baseline():
    report = evaluate(
        history(), id_col="customer", duration_col="tenure", event_col="churn", folds=3, rounds=20
    )
    holdout = report["holdout"]
    assert holdout["xgboost"]["auc"] > 0.6
    assert holdout["logistic_regression"]["auc"] > 0.6
    assert holdout["survival"]["c_index"] > 0.6
    assert len(holdout["calibration"]) == 10
    assert report["kfold"]["folds"] == 3
    assert "charges" in report["features"]  # numbers stored as text, blanks as missing
    text = format_report(report)
    assert "Logistic regression AUC" in text and "Survival C-index" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["tenure"]), "column 'tenure' not found"),
        (
            lambda f: f.assign(tenure=f["tenure"].astype(str).where(f.index != 3, "soon")),
            "column 'tenure' has a non-numeric value 'soon'",
        ),
        (
            lambda f: f.assign(tenure=f["tenure"].where(f.index != 5, -2.0)),
            "column 'tenure' has a negative duration",
        ),
        (
            lambda f: f.assign(churn=f["churn"].where(f.index != 7, "maybe")),
            "column 'churn' has 'maybe'",
        ),
        (lambda f: f.assign(region="emea"), "column 'region' is constant"),
        (lambda f: f.assign(notes=None), "column 'notes' is empty"),
    ],
)
def test_evaluate_names_the_column_that_is_wrong(change, message):
    with pytest.raises(EvaluateError, match=message):
        evaluate(
            change(history(rows=120)),
            id_col="customer",
            duration_col="tenure",
            event_col="churn",
            folds=2,
            rounds=3,
        )


def test_evaluate_command_prints_json_for_machines(runner, tmp_path):
    path = tmp_path / "history.csv"
    history(rows=200).to_csv(path, index=False)
    result = runner.invoke(
        args=[
            "scoring",
            "evaluate",
            str(path),
            "--id-col",
            "customer",
            "--duration-col",
            "tenure",
            "--event-col",
            "churn",
            "--folds",
            "2",
            "--rounds",
            "10",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows"] == 200 and report["seed"] == 7


def test_evaluate_command_fails_with_one_readable_line_on_a_wrong_column(runner, tmp_path):
    path = tmp_path / "history.csv"
    history(rows=50).to_csv(path, index=False)
    result = runner.invoke(
        args=[
            "scoring",
            "evaluate",
            str(path),
            "--id-col",
            "id",
            "--duration-col",
            "tenure",
            "--event-col",
            "churn",
        ]
    )
    assert result.exit_code == 1
    assert "column 'id' not found" in result.output
