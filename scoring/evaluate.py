"""Evaluate the models on any customer history (a CSV): held-out split plus k-fold, fixed seed.

One row per customer: a duration column (how long they have been or were a customer), an event
column (1 = churned), optionally an id column, and any other columns as features, categorical
ones encoded automatically.

In such a table a churned customer's duration *is* its time of churn, so a classifier that saw
it would read the outcome. The classifiers therefore never see it: they are scored on landmark
labels (customers still there at the landmark, label = churned within the next `horizon`
months; customers who left the data earlier without churning are unknown and left out). The
survival models use the duration as their outcome, as they should. Pure pandas/scikit-learn:
no Flask, no database.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.exceptions import ConvergenceWarning
from lifelines.utils import concordance_index
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scoring.encoding import FeatureEncoder, FeatureError, numeric_column
from scoring.health_model import HealthModel
from scoring.model_metrics import calibration_table, classifier_metrics
from scoring.survival import GRID, HORIZON_MONTHS, MONTH_DAYS, SurvivalModel

TEST_SHARE = 0.25
EVENT_WORDS = {"1": 1, "0": 0, "true": 1, "false": 0, "yes": 1, "no": 0, "churned": 1}
NUMERIC_SHARE = 0.95  # a text column whose values are this numeric is read as numbers
MONTHS_PER = {"months": 1.0, "days": 1 / MONTH_DAYS, "weeks": 7 / MONTH_DAYS, "years": 12.0}
LEAK_AUC = 0.7  # the duration alone ranking churn this well means a classifier on it would leak
PROXY_RHO = 0.8  # a feature this rank-correlated with the duration may be measured at the end
COX_PENALIZER = 0.1  # the plain baseline: one fixed penalty, no search
BRIER_TIE = 0.001  # a Brier gap below this is noise, not worth a line
RISK_GROUPS = ("low", "middle", "high")


class EvaluateError(ValueError):
    """The CSV cannot be evaluated; the message names the column."""


@dataclass(frozen=True)
class History:
    """Features (never the duration), durations in months, 0/1 events, and what was left out."""

    features: pd.DataFrame
    months: pd.Series
    events: pd.Series
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Landmark:
    """The classification question: of the customers there at `start` months, who churned
    within the next `horizon` months?"""

    start: float
    horizon: float

    def labels(self, months: pd.Series, events: pd.Series) -> pd.Series:
        """1/0 where the answer is known, NaN where the customer was not there at `start` or
        left the data (without churning) before the horizon ended."""
        end = self.start + self.horizon
        churned = (events == 1) & (months <= end)
        known = (months > self.start) & (churned | (months >= end))
        return churned.astype(float).where(known)


def prepare(
    frame: pd.DataFrame,
    *,
    duration_col: str,
    event_col: str,
    id_col: str | None = None,
    unit: str = "months",
) -> History:
    """Split a history table into features, durations (in months) and events, or say what is
    wrong. Without an id column, text columns with a distinct value in every row are left out
    as ids."""
    if unit not in MONTHS_PER:
        raise EvaluateError(f"unit {unit!r} unknown; use one of {', '.join(MONTHS_PER)}")
    for column in (duration_col, event_col, id_col):
        if column is not None and column not in frame.columns:
            have = ", ".join(map(str, frame.columns[:12]))
            raise EvaluateError(f"column {column!r} not found; the file has: {have}")
    try:
        durations = numeric_column(frame, duration_col)
    except FeatureError as error:
        raise EvaluateError(str(error)) from error
    if (durations < 0).any():
        raise EvaluateError(f"column {duration_col!r} has a negative duration")
    events = _events(frame[event_col], event_col)
    features = frame.drop(columns=[c for c in (id_col, duration_col, event_col) if c])
    features = features.apply(_clean)
    notes = []
    if id_col is None:
        ids = [c for c in features if _looks_like_id(features[c])]
        features = features.drop(columns=ids)
        notes = [f"column {c!r} left out: it looks like an id (distinct text)" for c in ids]
    if features.empty:
        raise EvaluateError("no feature columns besides the id, duration and event columns")
    return History(features, durations * MONTHS_PER[unit], events, notes)


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


def _clean(column: pd.Series) -> pd.Series:
    """Numbers stored as text (with blanks for missing) become numbers; NUL bytes go."""
    if pd.api.types.is_numeric_dtype(column):
        return column
    text = column.astype("string").str.replace("\x00", "", regex=False).str.strip()
    text = text.replace("", pd.NA)
    numbers = pd.to_numeric(text, errors="coerce")
    present = text.notna().sum()
    if present and numbers.notna().sum() >= NUMERIC_SHARE * present:
        return numbers
    return text.astype(object).where(text.notna(), None)


def _looks_like_id(column: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(column) and column.nunique() == len(column) > 1


def default_landmark(history: History, start: float = 0.0) -> Landmark:
    """The typical time to churn after `start` (median among churners) as the horizon."""
    after = history.months[(history.events == 1) & (history.months > start)] - start
    if after.empty:
        raise EvaluateError(f"no customer churned after the landmark ({start:g} months)")
    return Landmark(start, max(float(after.median()), 1 / MONTH_DAYS))


def leakage(history: History) -> dict:
    """How well the duration alone ranks churn, and the features that track the duration."""
    auc = float(roc_auc_score(history.events, -history.months))
    numeric = history.features.select_dtypes("number")
    proxies = []
    for column in numeric:
        present = numeric[column].notna()
        rho = spearmanr(numeric[column][present], history.months[present]).statistic
        if abs(rho) >= PROXY_RHO:
            proxies.append({"column": str(column), "rho": round(float(rho), 3)})
    return {"duration_auc": round(max(auc, 1 - auc), 4), "proxies": proxies}


def _health_scores(
    history: History, labels: pd.Series, train: np.ndarray, test: np.ndarray, seed: int, **fit
) -> dict:
    """The product's health model and a logistic regression on the landmark labels."""
    train, test = _known(labels, train), _known(labels, test)
    fit_x, test_x = history.features.iloc[train], history.features.iloc[test]
    fit_y, test_y = labels.iloc[train].astype(int), labels.iloc[test].astype(int)
    started = time.perf_counter()
    model = HealthModel.fit(fit_x, fit_y, seed=seed, strict=True, **fit)
    seconds = time.perf_counter() - started
    probability = model.probability(test_x)
    started = time.perf_counter()
    encoder = FeatureEncoder.fit(fit_x, strict=True)
    baseline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    baseline.fit(encoder.transform(fit_x, impute=True), fit_y)
    baseline_p = baseline.predict_proba(encoder.transform(test_x, impute=True))[:, 1]
    return {
        "product": classifier_metrics(test_y, probability),
        "logistic": classifier_metrics(test_y, baseline_p),
        "calibration": calibration_table(test_y.to_numpy(), probability),
        "summary": model.summary(),
        "top_features": list(model.importance())[:8],
        "seconds": {"product": round(seconds, 2), "logistic": _since(started)},
    }


def _known(labels: pd.Series, positions: np.ndarray) -> np.ndarray:
    return positions[labels.iloc[positions].notna().to_numpy()]


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 2)


def _survival_scores(
    history: History, train: np.ndarray, test: np.ndarray, seed: int
) -> tuple[dict, SurvivalModel]:
    """The product's survival model and a plain penalised Cox, by held-out C-index."""
    fit_x, test_x = history.features.iloc[train], history.features.iloc[test]
    months, events = history.months, history.events
    started = time.perf_counter()
    model = SurvivalModel.fit(fit_x, months.iloc[train], events.iloc[train], strict=True, seed=seed)
    seconds = _since(started)
    c_index = model.concordance(test_x, months.iloc[test], events.iloc[test])
    started = time.perf_counter()
    hazard = _cox_risk(fit_x, months.iloc[train], events.iloc[train], test_x)
    cox_c = float(concordance_index(months.iloc[test], -hazard, events.iloc[test]))
    scores = {
        "product": {"c_index": round(c_index, 4)},
        "cox": {"c_index": round(cox_c, 4), "penalizer": COX_PENALIZER},
        "summary": model.summary(),
        "seconds": {"product": seconds, "cox": _since(started)},
    }
    return scores, model


def _cox_risk(
    fit_x: pd.DataFrame, months: pd.Series, events: pd.Series, test_x: pd.DataFrame
) -> np.ndarray:
    """The partial hazard of a plain penalised Cox fitted on the same encoded features."""
    encoder = FeatureEncoder.fit(fit_x, strict=True)
    design = encoder.transform(fit_x, impute=True)
    columns = [c for c in design if design[c].std() > 0]
    frame = design[columns].assign(_months=months.to_numpy(), _event=events.to_numpy())
    cox = CoxPHFitter(penalizer=COX_PENALIZER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cox.fit(frame, "_months", "_event")
    return cox.predict_partial_hazard(encoder.transform(test_x, impute=True)[columns]).to_numpy()


def _at_horizon(
    model: SurvivalModel, history: History, landmark: Landmark, labels: pd.Series, test: np.ndarray
) -> dict | None:
    """The survival model asked the classifiers' question: P(churn within the horizon)."""
    if landmark.horizon > HORIZON_MONTHS:
        return None
    rows = _known(labels, test)
    tenure = pd.Series(landmark.start, index=history.features.index[rows])
    curves = model.survival(history.features.iloc[rows], tenure).to_numpy(float)
    at = np.array([np.interp(landmark.horizon, GRID, row) for row in curves])
    return classifier_metrics(labels.iloc[rows].astype(int), np.clip(1 - at, 0, 1))


def _risk_groups(model: SurvivalModel, history: History, test: np.ndarray) -> list[dict]:
    """Kaplan-Meier of each tertile of predicted risk beside the model's mean curve for it."""
    features = history.features.iloc[test]
    curves = model.survival(features, pd.Series(0.0, index=features.index)).to_numpy(float)
    months, events = history.months.iloc[test], history.events.iloc[test]
    rank = pd.Series(-np.trapezoid(curves, GRID, axis=1)).rank(method="first")
    group = pd.qcut(rank, len(RISK_GROUPS), labels=False).to_numpy()
    grid = GRID[(months.max() >= GRID) & (GRID % 1 == 0)]
    groups = []
    for code, name in enumerate(RISK_GROUPS):
        rows = group == code
        km = KaplanMeierFitter().fit(months[rows], events[rows])
        observed = km.survival_function_at_times(grid).to_numpy()
        predicted = curves[rows].mean(axis=0)[np.isin(GRID, grid)]
        groups.append(
            {
                "group": name,
                "rows": int(rows.sum()),
                "months": grid.tolist(),
                "kaplan_meier": np.round(observed, 4).tolist(),
                "model": np.round(predicted, 4).tolist(),
            }
        )
    return groups


def _fold(
    history: History, labels: pd.Series, train: np.ndarray, test: np.ndarray, seed: int, **fit
) -> tuple[dict, SurvivalModel]:
    health = _health_scores(history, labels, train, test, seed, **fit)
    survival, model = _survival_scores(history, train, test, seed)
    return {"health": health, "survival": survival}, model


def evaluate(
    frame: pd.DataFrame,
    *,
    duration_col: str,
    event_col: str,
    id_col: str | None = None,
    unit: str = "months",
    landmark: float = 0.0,
    horizon: float | None = None,
    seed: int = 7,
    folds: int = 5,
    rounds: int | None = None,
) -> dict:
    """The held-out report (split stratified by churn) and the k-fold means and spreads."""
    history = prepare(
        frame, duration_col=duration_col, event_col=event_col, id_col=id_col, unit=unit
    )
    question = Landmark(landmark, horizon) if horizon else default_landmark(history, landmark)
    labels = question.labels(history.months, history.events)
    counts = labels.value_counts()
    if len(counts) < 2 or counts.min() < max(folds, 4) * 2:
        raise EvaluateError(
            f"too few customers churned (or stayed) within {question.horizon:g} months of the "
            f"landmark ({question.start:g} months) to split: choose another --landmark/--horizon"
        )
    index = np.arange(len(frame))
    strata = _strata(history.events, labels, folds)
    train, test = train_test_split(index, test_size=TEST_SHARE, stratify=strata, random_state=seed)
    try:
        holdout, model = _fold(history, labels, train, test, seed, rounds=rounds)
        holdout["health"]["survival_at_horizon"] = _at_horizon(
            model, history, question, labels, test
        )
        holdout["survival"]["risk_groups"] = _risk_groups(model, history, test)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        fold_results = [
            _fold(history, labels, fit, check, seed, rounds=rounds)[0]
            for fit, check in splitter.split(index, strata)
        ]
    except FeatureError as error:
        raise EvaluateError(str(error)) from error
    report = {
        "rows": len(frame),
        "events": int(history.events.sum()),
        "duration_col": duration_col,
        "unit": unit,
        "features": [str(c) for c in history.features.columns],
        "notes": history.notes,
        "seed": seed,
        "test_share": TEST_SHARE,
        "landmark": _landmark_summary(question, labels),
        "leakage": leakage(history),
        "holdout": holdout,
        "kfold": _kfold_summary(fold_results, folds),
    }
    report["comparisons"] = comparisons(holdout)
    report["verdicts"] = verdicts(report)
    return report


def _strata(events: pd.Series, labels: pd.Series, folds: int) -> pd.Series:
    """Split by churn and by the landmark label, so both questions keep their base rates; by
    churn alone when a combination is too rare to share out."""
    both = events * 3 + labels.fillna(2).astype(int)
    return both if both.value_counts().min() >= folds else events


def _landmark_summary(question: Landmark, labels: pd.Series) -> dict:
    return {
        "start_months": round(question.start, 2),
        "horizon_months": round(question.horizon, 2),
        "rows_labelled": int(labels.notna().sum()),
        "churned_within_horizon": int(labels.sum()),
        "left_out": int(labels.isna().sum()),
    }


def _kfold_summary(results: list[dict], folds: int) -> dict:
    def spread(part: str, model: str, metric: str) -> dict:
        values = [r[part][model][metric] for r in results]
        return {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4)}

    return {
        "folds": folds,
        "product_auc": spread("health", "product", "auc"),
        "product_brier": spread("health", "product", "brier"),
        "logistic_auc": spread("health", "logistic", "auc"),
        "logistic_brier": spread("health", "logistic", "brier"),
        "survival_c_index": spread("survival", "product", "c_index"),
        "cox_c_index": spread("survival", "cox", "c_index"),
    }


def comparisons(holdout: dict) -> list[dict]:
    """Each product model beside its plain baseline on the held-out rows."""
    health, survival = holdout["health"], holdout["survival"]
    return [
        _comparison(
            "Health model",
            "AUC",
            (health["summary"]["chosen"], health["product"]["auc"]),
            ("logistic baseline", health["logistic"]["auc"]),
        ),
        _comparison(
            "Survival model",
            "C-index",
            (survival["summary"]["chosen"], survival["product"]["c_index"]),
            (f"Cox penalizer={COX_PENALIZER}", survival["cox"]["c_index"]),
        ),
    ]


def _comparison(
    part: str, metric: str, product: tuple[str, float], baseline: tuple[str, float]
) -> dict:
    return {
        "part": part,
        "metric": metric,
        "product": product[0],
        "product_value": product[1],
        "baseline": baseline[0],
        "baseline_value": baseline[1],
        "product_wins": product[1] >= baseline[1],
    }


def verdicts(report: dict) -> list[str]:
    """Plain sentences: did the product beat the baselines, and does the duration leak?"""
    lines = [_verdict(c) for c in report["comparisons"]]
    health = report["holdout"]["health"]
    ours, theirs = health["product"]["brier"], health["logistic"]["brier"]
    if ours > theirs + BRIER_TIE:
        lines.append(
            f"Calibration: the logistic baseline has the lower held-out Brier score "
            f"({theirs:.4f} vs {ours:.4f} for the product)."
        )
    leak = report["leakage"]
    if leak["duration_auc"] > LEAK_AUC:
        lines.append(
            f"Warning: the duration alone ranks churn with AUC {leak['duration_auc']:.2f}: a "
            "classifier shown it would read the outcome, so the classifiers here never see it."
        )
    for proxy in leak["proxies"]:
        lines.append(
            f"Warning: {proxy['column']!r} tracks the duration (Spearman {proxy['rho']:+.2f}); if "
            "it is measured at the end of each customer's history it leaks the outcome: "
            "consider --drop."
        )
    return lines


def _verdict(row: dict) -> str:
    metric, ours, theirs = row["metric"], row["product_value"], row["baseline_value"]
    if row["product_wins"]:
        return (
            f"{row['part']}: the product's {row['product']} beats or ties the {row['baseline']} "
            f"(held-out {metric} {ours:.4f} vs {theirs:.4f})."
        )
    return (
        f"{row['part']}: the product LOSES: the {row['baseline']} is better here (held-out "
        f"{metric} {theirs:.4f} vs {ours:.4f} for the product's {row['product']})."
    )


def format_report(report: dict) -> str:
    """The report as text for a terminal."""
    hold, kfold, mark = report["holdout"], report["kfold"], report["landmark"]
    health, survival = hold["health"], hold["survival"]
    lines = [
        f"{report['rows']} customers, {report['events']} churned; seed {report['seed']}; "
        f"held-out share {report['test_share']:.0%}, plus {kfold['folds']}-fold",
        f"Classifiers: customers there at month {mark['start_months']:g}, label = churned within "
        f"{mark['horizon_months']:g} months ({mark['rows_labelled']} labelled, "
        f"{mark['churned_within_horizon']} churned, {mark['left_out']} left out as unknown); "
        f"they never see {report['duration_col']!r}.",
        *report["notes"],
        "",
        *report["verdicts"],
        "",
        f"{'model':<34}{'held-out':>10}{'k-fold mean':>13}{'± sd':>8}",
    ]
    rows = [
        ("Health model (product) AUC", health["product"]["auc"], kfold["product_auc"]),
        ("Logistic baseline AUC", health["logistic"]["auc"], kfold["logistic_auc"]),
        ("Health model (product) Brier", health["product"]["brier"], kfold["product_brier"]),
        ("Logistic baseline Brier", health["logistic"]["brier"], kfold["logistic_brier"]),
        (
            "Survival model (product) C-index",
            survival["product"]["c_index"],
            kfold["survival_c_index"],
        ),
        (
            f"Cox penalizer={COX_PENALIZER} C-index",
            survival["cox"]["c_index"],
            kfold["cox_c_index"],
        ),
    ]
    for name, value, spread in rows:
        lines.append(f"{name:<34}{value:>10.4f}{spread['mean']:>13.4f}{spread['std']:>8.4f}")
    if health["survival_at_horizon"]:
        at = health["survival_at_horizon"]
        lines.append(
            "Survival model asked the classifiers' question: "
            f"AUC {at['auc']:.4f}, Brier {at['brier']:.4f}"
        )
    lines += ["", *_candidates_text(health["summary"], survival["summary"])]
    lines += [
        "",
        "Calibration of the health model on the held-out rows (deciles of predicted risk):",
    ]
    lines.append(f"{'decile':>6}{'rows':>7}{'predicted':>11}{'observed':>10}")
    for row in health["calibration"]:
        lines.append(
            f"{row['bin']:>6}{row['rows']:>7}{row['predicted']:>11.3f}{row['observed']:>10.3f}"
        )
    lines += ["", "Strongest health-model features: " + ", ".join(health["top_features"])]
    return "\n".join(lines)


def _candidates_text(health: dict, survival: dict) -> list[str]:
    lines = [f"Health model: {health['why']}", f"{'candidate':<34}{'AUC (cv)':>10}{'log loss':>10}"]
    for row in health["candidates"]:
        lines.append(f"{row['name']:<34}{row['auc_cv']:>10.4f}{row['logloss_cv']:>10.4f}")
    lines += [
        "",
        f"Survival model: {survival['why']}",
        f"{'candidate':<34}{'C (cv)':>10}{'seconds':>10}",
    ]
    for row in survival["candidates"]:
        c_index = "-" if row["c_index_cv"] is None else f"{row['c_index_cv']:.4f}"
        lines.append(f"{row['name']:<34}{c_index:>10}{row['seconds']:>10.1f}")
    if survival["ph_violations"]:
        lines.append("Proportional hazards rejected for: " + ", ".join(survival["ph_violations"]))
    return lines
