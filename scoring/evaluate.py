"""Evaluate the models on any customer history (a CSV): held-out split plus k-fold, fixed seed.

One row per customer: an id column, a duration column (how long they have been or were a
customer), an event column (1 = churned) and any other columns as features, categorical ones
encoded automatically. The classifiers also see the duration as a feature; the survival model
uses it as its outcome. Pure pandas/scikit-learn: no Flask, no database.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scoring.encoding import FeatureEncoder, FeatureError, numeric_column
from scoring.health_model import HealthModel
from scoring.metrics import calibration_table, classifier_metrics
from scoring.survival import SurvivalModel

TEST_SHARE = 0.25
EVENT_WORDS = {"1": 1, "0": 0, "true": 1, "false": 0, "yes": 1, "no": 0, "churned": 1}
NUMERIC_SHARE = 0.95  # a text column whose values are this numeric is read as numbers


class EvaluateError(ValueError):
    """The CSV cannot be evaluated; the message names the column."""


def prepare(
    frame: pd.DataFrame, id_col: str, duration_col: str, event_col: str
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Split a history table into features, durations and 0/1 events, or say what is wrong."""
    for column in (id_col, duration_col, event_col):
        if column not in frame.columns:
            have = ", ".join(map(str, frame.columns[:12]))
            raise EvaluateError(f"column {column!r} not found; the file has: {have}")
    try:
        durations = numeric_column(frame, duration_col)
    except FeatureError as error:
        raise EvaluateError(str(error)) from error
    if (durations < 0).any():
        raise EvaluateError(f"column {duration_col!r} has a negative duration")
    events = _events(frame[event_col], event_col)
    features = frame.drop(columns=[id_col, duration_col, event_col])
    features = features.apply(_maybe_numeric)
    if features.empty:
        raise EvaluateError("no feature columns besides the id, duration and event columns")
    return features, durations, events


def _events(values: pd.Series, name: str) -> pd.Series:
    words = values.astype("string").str.strip().str.lower()
    words = words.str.replace(r"\.0$", "", regex=True)
    events = words.map(EVENT_WORDS)
    bad = values[events.isna()]
    if len(bad):
        raise EvaluateError(
            f"column {name!r} has {bad.iloc[0]!r}; use 1/0, true/false or yes/no for churned"
        )
    if events.nunique() < 2:
        raise EvaluateError(f"column {name!r} has one value only: churned and kept are needed")
    return events.astype(int)


def _maybe_numeric(column: pd.Series) -> pd.Series:
    """Numbers stored as text (with blanks for missing) become numbers."""
    if pd.api.types.is_numeric_dtype(column):
        return column
    text = column.astype("string").str.strip().replace("", pd.NA)
    numbers = pd.to_numeric(text, errors="coerce")
    present = text.notna().sum()
    return numbers if present and numbers.notna().sum() >= NUMERIC_SHARE * present else column


def _fold_scores(
    history: tuple[pd.DataFrame, pd.Series, pd.Series],
    train: np.ndarray,
    test: np.ndarray,
    *,
    rounds: int,
    seed: int,
) -> dict:
    features, durations, events = history
    with_duration = features.assign(_duration=durations)
    fit_x, test_x = with_duration.iloc[train], with_duration.iloc[test]
    fit_y, test_y = events.iloc[train], events.iloc[test]
    booster = HealthModel.fit(fit_x, fit_y, rounds=rounds, seed=seed, strict=True)
    probability = booster.probability(test_x)
    encoder = FeatureEncoder.fit(fit_x, strict=True)
    baseline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    baseline.fit(encoder.transform(fit_x, impute=True), fit_y)
    baseline_p = baseline.predict_proba(encoder.transform(test_x, impute=True))[:, 1]
    survival = SurvivalModel.fit(features.iloc[train], durations.iloc[train], fit_y, strict=True)
    c_index = survival.concordance(features.iloc[test], durations.iloc[test], test_y)
    return {
        "xgboost": classifier_metrics(test_y, probability),
        "logistic_regression": classifier_metrics(test_y, baseline_p),
        "survival": {"c_index": round(c_index, 4), **survival.summary()},
        "calibration": calibration_table(test_y.to_numpy(), probability),
        "top_features": list(booster.importance())[:8],
    }


def evaluate(
    frame: pd.DataFrame,
    *,
    id_col: str,
    duration_col: str,
    event_col: str,
    seed: int = 7,
    folds: int = 5,
    rounds: int = 400,
) -> dict:
    """The held-out report (stratified split) and the k-fold means and spreads."""
    history = prepare(frame, id_col, duration_col, event_col)
    features, events = history[0], history[2]
    if events.value_counts().min() < max(folds, 4):
        raise EvaluateError(f"column {event_col!r} has too few churned (or kept) rows to split")
    index = np.arange(len(frame))
    train, test = train_test_split(index, test_size=TEST_SHARE, stratify=events, random_state=seed)
    try:
        holdout = _fold_scores(history, train, test, rounds=rounds, seed=seed)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        fold_results = [
            _fold_scores(history, fit, check, rounds=rounds, seed=seed)
            for fit, check in splitter.split(index, events)
        ]
    except FeatureError as error:
        raise EvaluateError(str(error)) from error
    return {
        "rows": len(frame),
        "events": int(events.sum()),
        "features": list(features.columns),
        "seed": seed,
        "test_share": TEST_SHARE,
        "holdout": holdout,
        "kfold": _kfold_summary(fold_results, folds),
    }


def _kfold_summary(results: list[dict], folds: int) -> dict:
    def spread(values: list[float]) -> dict:
        return {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4)}

    return {
        "folds": folds,
        "xgboost_auc": spread([r["xgboost"]["auc"] for r in results]),
        "xgboost_brier": spread([r["xgboost"]["brier"] for r in results]),
        "logistic_auc": spread([r["logistic_regression"]["auc"] for r in results]),
        "logistic_brier": spread([r["logistic_regression"]["brier"] for r in results]),
        "survival_c_index": spread([r["survival"]["c_index"] for r in results]),
    }


def format_report(report: dict) -> str:
    """The report as text for a terminal."""
    hold, kfold = report["holdout"], report["kfold"]
    lines = [
        f"{report['rows']} customers, {report['events']} churned; seed {report['seed']}; "
        f"held-out share {report['test_share']:.0%}, plus {kfold['folds']}-fold",
        "",
        f"{'model':<28}{'held-out':>12}{'k-fold mean':>14}{'± sd':>8}",
    ]
    rows = [
        ("XGBoost AUC", hold["xgboost"]["auc"], kfold["xgboost_auc"]),
        ("XGBoost Brier", hold["xgboost"]["brier"], kfold["xgboost_brier"]),
        ("Logistic regression AUC", hold["logistic_regression"]["auc"], kfold["logistic_auc"]),
        (
            "Logistic regression Brier",
            hold["logistic_regression"]["brier"],
            kfold["logistic_brier"],
        ),
        (
            f"Survival C-index ({hold['survival']['kind']})",
            hold["survival"]["c_index"],
            kfold["survival_c_index"],
        ),
    ]
    for name, value, spread in rows:
        lines.append(f"{name:<28}{value:>12.4f}{spread['mean']:>14.4f}{spread['std']:>8.4f}")
    if hold["survival"]["ph_violations"]:
        lines.append(
            "Proportional hazards rejected for: " + ", ".join(hold["survival"]["ph_violations"])
        )
    lines += ["", "Calibration of XGBoost on the held-out rows (deciles of predicted risk):"]
    lines.append(f"{'decile':>6}{'rows':>7}{'predicted':>11}{'observed':>10}")
    for row in hold["calibration"]:
        lines.append(
            f"{row['bin']:>6}{row['rows']:>7}{row['predicted']:>11.3f}{row['observed']:>10.3f}"
        )
    lines += ["", "Strongest XGBoost features: " + ", ".join(hold["top_features"])]
    return "\n".join(lines)
