"""Held-out metrics shared by training, evaluation and backtests. Pure numpy/scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

CALIBRATION_BINS = 10


def classifier_metrics(labels: np.ndarray, probability: np.ndarray) -> dict[str, float | None]:
    """AUC (None with one class only), Brier score, base rate and row count of probabilities
    against 0/1 labels."""
    labels = np.asarray(labels, dtype=int)
    probability = np.asarray(probability, dtype=float)
    both_classes = len(np.unique(labels)) == 2
    return {
        "auc": round(float(roc_auc_score(labels, probability)), 4) if both_classes else None,
        "brier": round(float(brier_score_loss(labels, probability)), 4),
        "base_rate": round(float(labels.mean()), 4),
        "rows": len(labels),
    }


def calibration_table(
    labels: np.ndarray, probability: np.ndarray, bins: int = CALIBRATION_BINS
) -> list[dict]:
    """Predicted against observed churn rate per decile of predicted probability."""
    frame = pd.DataFrame({"label": labels, "p": probability})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), bins, labels=False)
    table = frame.groupby("bin").agg(
        rows=("label", "size"), predicted=("p", "mean"), observed=("label", "mean")
    )
    return [
        {
            "bin": int(index) + 1,
            "rows": int(row.rows),
            "predicted": round(float(row.predicted), 4),
            "observed": round(float(row.observed), 4),
        }
        for index, row in table.iterrows()
    ]


def top_decile_precision(labels: np.ndarray, risk: np.ndarray) -> float:
    """Share of churners among the tenth of rows with the highest risk."""
    count = max(1, len(risk) // 10)
    top = np.argsort(-np.asarray(risk, dtype=float), kind="stable")[:count]
    return round(float(np.asarray(labels)[top].mean()), 4)
