"""The learned health model: XGBoost on point-in-time features, calibrated on a held-out slice
(isotonic when the slice is large, Platt scaling when it is small), explained per account by
XGBoost's own TreeSHAP contributions. Pure: DataFrames in, scores out; no Flask, no database."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from scoring.encoding import FeatureEncoder, FeatureError, as_numpy
from scoring.explain import top_drivers
from scoring.scorecard import band_for

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "max_depth": 3,
    "eta": 0.03,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 5,
    "tree_method": "hist",
    "nthread": 1,  # predictable on a shared host; XGBoost threads spin when CPUs are busy
}
DEFAULT_ROUNDS = 400
CALIBRATION_SHARE = 0.25
# Isotonic regression needs many rows and events in the calibration slice; below these it
# overfits into steps that pin many accounts at exactly 0 % (health 100), so Platt is used.
ISOTONIC_MIN_ROWS = 1000
ISOTONIC_MIN_EVENTS = 50


def labels_as_int(labels: pd.Series, name: str = "label") -> np.ndarray:
    """0/1 labels, refusing anything else with a message that names the column."""
    values = np.asarray(labels, dtype=float)
    if np.isnan(values).any() or not np.isin(values, (0.0, 1.0)).all():
        raise FeatureError(f"column {name!r} must hold only 0 and 1")
    if len(np.unique(values)) < 2:
        raise FeatureError(f"column {name!r} has one class only: both churned and kept are needed")
    return values.astype(int)


@dataclass
class PlattCalibrator:
    """Platt scaling: a logistic curve over the booster's log-odds. Smooth and never exactly 0
    or 1, which suits the small calibration slices of a young book of business."""

    curve: LogisticRegression

    @classmethod
    def fit(cls, raw: np.ndarray, labels: np.ndarray) -> PlattCalibrator:
        return cls(LogisticRegression().fit(_log_odds(raw), labels))

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return self.curve.predict_proba(_log_odds(raw))[:, 1]


def _log_odds(probability: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(probability, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(clipped / (1 - clipped)).reshape(-1, 1)


def fit_calibrator(raw: np.ndarray, labels: np.ndarray) -> IsotonicRegression | PlattCalibrator:
    """Isotonic when the held-out slice is big enough to support it, Platt scaling otherwise."""
    if len(labels) >= ISOTONIC_MIN_ROWS and labels.sum() >= ISOTONIC_MIN_EVENTS:
        return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, labels)
    return PlattCalibrator.fit(raw, labels)


@dataclass
class HealthModel:
    encoder: FeatureEncoder
    booster: xgb.Booster
    calibrator: IsotonicRegression | PlattCalibrator
    rounds: int

    @classmethod
    def fit(
        cls,
        features: pd.DataFrame,
        labels: pd.Series,
        *,
        rounds: int = DEFAULT_ROUNDS,
        seed: int = 7,
        strict: bool = False,
        params: dict[str, Any] | None = None,
    ) -> HealthModel:
        """Train on `features` -> `labels` (1 = churned within the horizon); a stratified
        quarter of the rows is held back to calibrate the probabilities."""
        y = labels_as_int(labels)
        encoder = FeatureEncoder.fit(features, strict=strict)
        encoded = encoder.transform(features)
        fit_x, cal_x, fit_y, cal_y = train_test_split(
            encoded, y, test_size=CALIBRATION_SHARE, stratify=y, random_state=seed
        )
        booster = xgb.train(
            {**DEFAULT_PARAMS, **(params or {}), "seed": seed},
            xgb.DMatrix(as_numpy(fit_x), label=fit_y, feature_names=_safe(encoder.columns)),
            num_boost_round=rounds,
        )
        raw = booster.predict(xgb.DMatrix(as_numpy(cal_x), feature_names=_safe(encoder.columns)))
        return cls(encoder, booster, fit_calibrator(raw, cal_y), rounds)

    def _matrix(self, features: pd.DataFrame) -> xgb.DMatrix:
        encoded = self.encoder.transform(features)
        return xgb.DMatrix(as_numpy(encoded), feature_names=_safe(self.encoder.columns))

    def raw_probability(self, features: pd.DataFrame) -> np.ndarray:
        """The booster's uncalibrated probability of churn."""
        return self.booster.predict(self._matrix(features))

    def probability(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of churn within the label horizon."""
        return np.clip(self.calibrator.predict(self.raw_probability(features)), 0.0, 1.0)

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """TreeSHAP contributions (log-odds towards churn), one-hot columns summed back into the
        input column they came from."""
        contribs = self.booster.predict(self._matrix(features), pred_contribs=True)[:, :-1]
        sources = [self.encoder.source_of(c) for c in self.encoder.columns]
        frame = pd.DataFrame(contribs, columns=sources, index=features.index)
        return frame.T.groupby(level=0, sort=False).sum().T

    def score(
        self, features: pd.DataFrame, *, green_at: float, red_below: float, drivers: int = 3
    ) -> pd.DataFrame:
        """Score, band, probability and top drivers for each row of `features`."""
        probability = self.probability(features)
        score = np.round(100.0 * (1.0 - probability), 1)
        return pd.DataFrame(
            {
                "score": score,
                "band": band_for(score, green_at, red_below),
                "churn_probability": np.round(probability, 4),
                "drivers": top_drivers(self.contributions(features), features, drivers),
            },
            index=features.index,
        )

    def importance(self) -> dict[str, float]:
        """Mean gain per input column, for the model registry and the driver checks."""
        gains = self.booster.get_score(importance_type="total_gain")
        names = dict(zip(_safe(self.encoder.columns), self.encoder.columns, strict=True))
        total: dict[str, float] = {}
        for safe, gain in gains.items():
            source = self.encoder.source_of(names[safe])
            total[source] = total.get(source, 0.0) + float(gain)
        return dict(sorted(total.items(), key=lambda item: -item[1]))

    def to_bytes(self) -> bytes:
        """The artifact kept in the model registry."""
        booster = bytes(self.booster.save_raw("ubj"))
        return pickle.dumps((self.encoder, booster, self.calibrator, self.rounds))

    @classmethod
    def from_bytes(cls, artifact: bytes) -> HealthModel:
        # The artifact is written by this module into our own database, never taken from users.
        encoder, raw, calibrator, rounds = pickle.loads(artifact)  # noqa: S301
        booster = xgb.Booster()
        booster.load_model(bytearray(raw))
        return cls(encoder, booster, calibrator, rounds)


def _safe(columns: list[str]) -> list[str]:
    """XGBoost refuses some characters in feature names ([, ], <)."""
    return [c.replace("[", "(").replace("]", ")").replace("<", "lt") for c in columns]
