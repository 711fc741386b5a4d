"""The learned health model: P(churn within the horizon) from point-in-time features, chosen by
evidence and explained per account. Pure: DataFrames in, scores out; no Flask, no database.

Two learners compete on the same grouped, stratified folds (one account's snapshots stay in one
fold): XGBoost over a small grid of depths and learning rates, each with early stopping, and a
logistic regression. The one with the higher out-of-fold AUC wins (the logistic one on a tie:
simpler). Levers whose direction is known are held to it (XGBoost monotone constraints; for the
logistic model a lever with the wrong sign is left out), so a driver never says that falling
usage lowers risk. The winner is refitted on every row and calibrated by Platt scaling on its
out-of-fold margins: no rows are withheld, and a strictly increasing curve keeps the ranking
(no isotonic ties).

The 0-100 score is the calibrated risk relative to the book's base rate b (the share of training
snapshots that churned within the horizon): score = 100 * b / (p + b). An account at the book's
average risk scores 50, one at half of it 67, at twice it 33, at four times it 20.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from scoring.encoding import FeatureEncoder, FeatureError, as_numpy
from scoring.explain import top_drivers
from scoring.scorecard import band_for

BASE_PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 5,
    "tree_method": "hist",
    "nthread": 1,  # predictable on a shared host; XGBoost threads spin when CPUs are busy
}
# The grid the inner cross-validation searches; rounds come from early stopping.
GRID: tuple[dict[str, Any], ...] = (
    {"max_depth": 2, "eta": 0.1},
    {"max_depth": 3, "eta": 0.05},
    {"max_depth": 5, "eta": 0.05},
)
MAX_ROUNDS = 600
EARLY_STOPPING = 40
FOLDS = 4
LOGISTIC_C = 1.0
TIE = 0.001  # AUC difference below which the simpler (logistic) learner wins


def labels_as_int(labels: pd.Series, name: str = "label") -> np.ndarray:
    """0/1 labels, refusing anything else with a message that names the column."""
    values = np.asarray(labels, dtype=float)
    if np.isnan(values).any() or not np.isin(values, (0.0, 1.0)).all():
        raise FeatureError(f"column {name!r} must hold only 0 and 1")
    if len(np.unique(values)) < 2:
        raise FeatureError(f"column {name!r} has one class only: both churned and kept are needed")
    return values.astype(int)


def risk_score(probability: np.ndarray, base_rate: float) -> np.ndarray:
    """The 0-100 health score of a calibrated risk: 100 * b / (p + b), one decimal."""
    p = np.asarray(probability, dtype=float)
    return np.round(100.0 * base_rate / (p + base_rate), 1)


class Learner(Protocol):
    """A fitted learner: a margin (log-odds) and its exact split over the encoded columns."""

    def margin(self, encoded: pd.DataFrame) -> np.ndarray: ...

    def contributions(self, encoded: pd.DataFrame) -> np.ndarray: ...


@dataclass
class BoostedLearner:
    booster: xgb.Booster
    names: list[str]

    @classmethod
    def fit(
        cls, encoded: pd.DataFrame, y: np.ndarray, params: dict[str, Any], rounds: int
    ) -> BoostedLearner:
        names = _safe(list(encoded.columns))
        train = xgb.DMatrix(as_numpy(encoded), label=y, feature_names=names)
        return cls(xgb.train(params, train, num_boost_round=rounds), names)

    def _matrix(self, encoded: pd.DataFrame) -> xgb.DMatrix:
        return xgb.DMatrix(as_numpy(encoded), feature_names=self.names)

    def margin(self, encoded: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(self._matrix(encoded), output_margin=True).astype(float)

    def contributions(self, encoded: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(self._matrix(encoded), pred_contribs=True)[:, :-1]

    def __getstate__(self) -> dict:
        return {"booster": bytes(self.booster.save_raw("ubj")), "names": self.names}

    def __setstate__(self, state: dict) -> None:
        self.booster = xgb.Booster()
        self.booster.load_model(bytearray(state["booster"]))
        self.names = state["names"]


@dataclass
class LinearLearner:
    """Logistic regression on standardised, median-imputed columns; a column's contribution is
    its coefficient times its standardised value (0 at the training mean)."""

    scaler: StandardScaler
    regression: LogisticRegression
    kept: list[int]  # positions of the encoded columns the regression uses
    medians: np.ndarray  # per encoded column, what a missing value is read as

    @classmethod
    def fit(
        cls, encoded: pd.DataFrame, y: np.ndarray, signs: np.ndarray, medians: np.ndarray
    ) -> LinearLearner:
        """Fit, then leave out each lever whose coefficient has the wrong sign and refit."""
        kept = list(range(encoded.shape[1]))
        values = _filled(encoded, medians)
        while True:
            scaler = StandardScaler().fit(values[:, kept])
            regression = LogisticRegression(C=LOGISTIC_C, max_iter=2000)
            regression.fit(scaler.transform(values[:, kept]), y)
            wrong = [k for k, c in zip(kept, regression.coef_[0], strict=True) if signs[k] * c < 0]
            if not wrong:
                return cls(scaler, regression, kept, medians)
            kept = [k for k in kept if k not in wrong]

    def _standardised(self, encoded: pd.DataFrame) -> np.ndarray:
        return self.scaler.transform(_filled(encoded, self.medians)[:, self.kept])

    def margin(self, encoded: pd.DataFrame) -> np.ndarray:
        return self.regression.decision_function(self._standardised(encoded)).astype(float)

    def contributions(self, encoded: pd.DataFrame) -> np.ndarray:
        full = np.zeros((len(encoded), encoded.shape[1]))
        full[:, self.kept] = self._standardised(encoded) * self.regression.coef_[0]
        return full


def _filled(encoded: pd.DataFrame, medians: np.ndarray) -> np.ndarray:
    values = encoded.to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(values), medians, values)


@dataclass
class PlattCalibrator:
    """Platt scaling: a logistic curve over the learner's margin. Strictly increasing, so the
    ranking (and the AUC) of the learner is kept, and never exactly 0 or 1."""

    slope: float
    intercept: float

    @classmethod
    def fit(cls, margin: np.ndarray, labels: np.ndarray) -> PlattCalibrator:
        curve = LogisticRegression(C=1e6).fit(np.asarray(margin).reshape(-1, 1), labels)
        slope = max(float(curve.coef_[0, 0]), 1e-6)  # a margin that ranks backwards: flat
        return cls(slope, float(curve.intercept_[0]))

    def predict(self, margin: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.slope * np.asarray(margin) + self.intercept)))


@dataclass
class Candidate:
    """One learner's out-of-fold result."""

    name: str
    margin: np.ndarray  # out-of-fold margins, in row order
    auc: float
    logloss: float
    seconds: float
    options: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "auc_cv": round(self.auc, 4),
            "logloss_cv": round(self.logloss, 4),
            "seconds": round(self.seconds, 2),
            **self.options,
        }


@dataclass
class HealthModel:
    encoder: FeatureEncoder
    learner: BoostedLearner | LinearLearner
    calibrator: PlattCalibrator
    base_rate: float
    directions: dict[str, int] = field(default_factory=dict)  # lever -> +1 raises risk when up
    context: tuple[str, ...] = ()  # inputs shown apart from the levers
    report: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        features: pd.DataFrame,
        labels: pd.Series,
        *,
        seed: int = 7,
        strict: bool = False,
        groups: pd.Series | None = None,
        rounds: int | None = None,
        directions: Mapping[str, int] | None = None,
        context: tuple[str, ...] = (),
    ) -> HealthModel:
        """Choose, fit and calibrate on `features` -> `labels` (1 = churned within the horizon).
        `groups` keeps each group's rows (an account's snapshots) in one fold; `rounds` caps
        the boosting rounds; `directions` holds levers to their known direction."""
        y = labels_as_int(labels)
        encoder = FeatureEncoder.fit(features, strict=strict)
        encoded = encoder.transform(features)
        directions = {k: int(v) for k, v in (directions or {}).items() if k in features}
        data = _Training(
            encoded,
            y,
            np.array([directions.get(encoder.source_of(c), 0) for c in encoder.columns]),
            np.array([encoder.medians.get(c, 0.0) for c in encoder.columns]),
            _folds(y, groups, seed),
            seed,
        )
        candidates = [
            *(_boosted_candidate(data, grid, rounds) for grid in GRID),
            _linear_candidate(data),
        ]
        best = _choose(candidates)
        learner = _refit(best, data)
        model = cls(
            encoder,
            learner,
            PlattCalibrator.fit(best.margin, y),
            float(y.mean()),
            directions,
            tuple(c for c in context if c in features),
        )
        model.report = _report(candidates, best, len(data.folds))
        return model

    def probability(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of churn within the label horizon."""
        return self.calibrator.predict(self.margin(features))

    def margin(self, features: pd.DataFrame) -> np.ndarray:
        """The learner's log-odds, before calibration."""
        return self.learner.margin(self.encoder.transform(features))

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Each input column's share of the margin (log-odds towards churn; TreeSHAP for
        XGBoost), one-hot columns summed back into the input column they came from."""
        parts = self.learner.contributions(self.encoder.transform(features))
        sources = [self.encoder.source_of(c) for c in self.encoder.columns]
        frame = pd.DataFrame(parts, columns=sources, index=features.index)
        return frame.T.groupby(level=0, sort=False).sum().T

    def score(
        self, features: pd.DataFrame, *, green_at: float, red_below: float, drivers: int = 3
    ) -> pd.DataFrame:
        """Score, band, probability, lever drivers and context for each row of `features`."""
        probability = np.round(self.probability(features), 4)  # as shown, so is the score
        score = risk_score(probability, self.base_rate)
        contributions = self.contributions(features)
        context = [c for c in contributions.columns if c in self.context]
        levers = [c for c in contributions.columns if c not in self.context]
        return pd.DataFrame(
            {
                "score": score,
                "band": band_for(score, green_at, red_below),
                "churn_probability": probability,
                "drivers": top_drivers(
                    contributions[levers], features, drivers, directions=self.directions
                ),
                "context": top_drivers(contributions[context], features, 2),
            },
            index=features.index,
        )

    def score_change(self, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
        """Each input's share, in score points, of the move from `before` to `after` (rows
        aligned): its change in log-odds times the score's change per log-odds between the two
        points, so that the shares add up to the change of the score."""
        delta = self.contributions(after) - self.contributions(before).to_numpy()
        margin_before, margin_after = self.margin(before), self.margin(after)
        score_before = risk_score(self.probability(before), self.base_rate)
        score_after = risk_score(self.probability(after), self.base_rate)
        moved = margin_after - margin_before
        slope = np.where(
            np.abs(moved) > 1e-9,
            (score_after - score_before) / np.where(moved == 0, 1, moved),
            self._slope(margin_after),
        )
        return delta.mul(slope, axis=0)

    def _slope(self, margin: np.ndarray) -> np.ndarray:
        """d score / d margin at `margin`."""
        p = self.calibrator.predict(margin)
        b = self.base_rate
        return -100.0 * b / (p + b) ** 2 * p * (1 - p) * self.calibrator.slope

    def importance(self) -> dict[str, float]:
        """Weight of each input column in the learner: total gain (XGBoost) or the absolute
        standardised coefficient (logistic), for the model registry."""
        if isinstance(self.learner, BoostedLearner):
            gains = self.learner.booster.get_score(importance_type="total_gain")
            names = dict(zip(self.learner.names, self.encoder.columns, strict=True))
            # a number per feature (lists are for multi-output trees, not trained here)
            per_column = {names[k]: float(cast(float, v)) for k, v in gains.items()}
        else:
            coefficients = np.abs(self.learner.regression.coef_[0])
            per_column = {
                self.encoder.columns[k]: float(c)
                for k, c in zip(self.learner.kept, coefficients, strict=True)
            }
        total: dict[str, float] = {}
        for column, weight in per_column.items():
            source = self.encoder.source_of(column)
            total[source] = total.get(source, 0.0) + weight
        return dict(sorted(total.items(), key=lambda item: -item[1]))

    def summary(self) -> dict[str, Any]:
        """What the registry and the evaluate report say about the choice."""
        return dict(self.report)

    def to_bytes(self) -> bytes:
        """The artifact kept in the model registry."""
        return pickle.dumps(self)

    @classmethod
    def from_bytes(cls, artifact: bytes) -> HealthModel:
        # Written by this module into our own database, never taken from users.
        return pickle.loads(artifact)  # noqa: S301


Folds = list[tuple[np.ndarray, np.ndarray]]


@dataclass
class _Training:
    """What every candidate is fitted on: the encoded rows and labels, each encoded column's
    required sign (+1, -1, 0 free) and median, the shared folds and the seed."""

    encoded: pd.DataFrame
    y: np.ndarray
    signs: np.ndarray
    medians: np.ndarray
    folds: Folds
    seed: int


def _folds(y: np.ndarray, groups: pd.Series | None, seed: int) -> Folds:
    """Stratified folds, grouped when `groups` is given; fewer folds when churn is rare."""
    count = int(max(2, min(FOLDS, y.sum(), len(y) - y.sum())))
    index = np.zeros(len(y))
    if groups is None:
        splitter = StratifiedKFold(n_splits=count, shuffle=True, random_state=seed)
        return list(splitter.split(index, y))
    splitter = StratifiedGroupKFold(n_splits=count, shuffle=True, random_state=seed)
    return list(splitter.split(index, y, np.asarray(groups)))


def _boosted_params(grid: dict[str, Any], signs: np.ndarray, seed: int) -> dict[str, Any]:
    constraints = "(" + ",".join(str(int(s)) for s in signs) + ")"
    return {**BASE_PARAMS, **grid, "seed": seed, "monotone_constraints": constraints}


def _boosted_candidate(data: _Training, grid: dict[str, Any], rounds: int | None) -> Candidate:
    """Out-of-fold margins of one grid point, each fold stopped early on its own validation."""
    started = time.perf_counter()
    params = _boosted_params(grid, data.signs, data.seed)
    names = _safe(list(data.encoded.columns))
    matrix, y = as_numpy(data.encoded), data.y
    margin, best_rounds = np.zeros(len(y)), []
    for train, check in data.folds:
        fit = xgb.DMatrix(matrix[train], label=y[train], feature_names=names)
        held = xgb.DMatrix(matrix[check], label=y[check], feature_names=names)
        booster = xgb.train(
            params,
            fit,
            num_boost_round=rounds or MAX_ROUNDS,
            evals=[(held, "held")],
            early_stopping_rounds=EARLY_STOPPING,
            verbose_eval=False,
        )
        best = booster.best_iteration + 1
        best_rounds.append(best)
        margin[check] = booster.predict(held, output_margin=True, iteration_range=(0, best))
    name = f"xgboost depth {grid['max_depth']} eta {grid['eta']}"
    # On every row the model sees a fold's worth more data: a few more rounds.
    folds = len(data.folds)
    final_rounds = max(1, round(np.mean(best_rounds) * folds / max(folds - 1, 1)))
    return _candidate(name, margin, y, started, {**grid, "rounds": final_rounds})


def _linear_candidate(data: _Training) -> Candidate:
    started = time.perf_counter()
    margin = np.zeros(len(data.y))
    for train, check in data.folds:
        learner = LinearLearner.fit(
            data.encoded.iloc[train], data.y[train], data.signs, data.medians
        )
        margin[check] = learner.margin(data.encoded.iloc[check])
    return _candidate("logistic regression", margin, data.y, started, {"C": LOGISTIC_C})


def _candidate(
    name: str, margin: np.ndarray, y: np.ndarray, started: float, options: dict[str, Any]
) -> Candidate:
    calibrated = PlattCalibrator.fit(margin, y).predict(margin)
    return Candidate(
        name,
        margin,
        float(roc_auc_score(y, margin)),
        float(log_loss(y, np.clip(calibrated, 1e-9, 1 - 1e-9))),
        time.perf_counter() - started,
        options,
    )


def _choose(candidates: list[Candidate]) -> Candidate:
    """The highest out-of-fold AUC; the logistic regression wins a tie (it is listed last)."""
    top = max(c.auc for c in candidates)
    tied = [c for c in candidates if c.auc >= top - TIE]
    return tied[-1] if tied[-1].name == "logistic regression" else max(tied, key=lambda c: c.auc)


def _refit(best: Candidate, data: _Training) -> BoostedLearner | LinearLearner:
    """The chosen candidate fitted on every row."""
    if best.name == "logistic regression":
        return LinearLearner.fit(data.encoded, data.y, data.signs, data.medians)
    grid = {k: best.options[k] for k in ("max_depth", "eta")}
    params = _boosted_params(grid, data.signs, data.seed)
    return BoostedLearner.fit(data.encoded, data.y, params, best.options["rounds"])


def _report(candidates: list[Candidate], best: Candidate, folds: int) -> dict[str, Any]:
    learner = "logistic" if best.name == "logistic regression" else "xgboost"
    runner_up = max((c for c in candidates if c is not best), key=lambda c: c.auc)
    return {
        "learner": learner,
        "chosen": best.name,
        "folds": folds,
        "candidates": [c.row() for c in candidates],
        "why": (
            f"{best.name} had the best out-of-fold AUC ({best.auc:.4f}) over {folds} folds; "
            f"next was {runner_up.name} ({runner_up.auc:.4f})"
        ),
    }


def _safe(columns: list[str]) -> list[str]:
    """XGBoost refuses some characters in feature names ([, ], <)."""
    return [c.replace("[", "(").replace("]", ")").replace("<", "lt") for c in columns]
