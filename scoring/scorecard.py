"""The cold-start scorecard: measures mapped to 0-100 by two thresholds, weighted, with a missing
measure's weight spread over the measures that are present. Pure: no Flask, no database."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from scoring.explain import sentence


def band_for(scores: np.ndarray | pd.Series, green_at: float, red_below: float) -> np.ndarray:
    """green / yellow / red for each 0-100 score: green from `green_at`, red below
    `red_below` (the scorecard's thresholds or the learned model's)."""
    values = np.asarray(scores, dtype=float)
    return np.where(values >= green_at, "green", np.where(values < red_below, "red", "yellow"))


@dataclass(frozen=True)
class Measure:
    """`feature` scores 0 at `bad` and 100 at `good`, linearly between (either direction)."""

    feature: str
    weight: float
    bad: float
    good: float

    def points(self, values: pd.Series) -> pd.Series:
        share = (values.astype(float) - self.bad) / (self.good - self.bad)
        return 100.0 * share.clip(0.0, 1.0)


DEFAULT_MEASURES = (
    Measure("active_users_change_30d", 25, bad=-0.5, good=0.0),
    Measure("seat_utilisation", 20, bad=0.2, good=0.8),
    Measure("nps_latest", 20, bad=5, good=9),
    Measure("open_tickets", 15, bad=8, good=0),
    Measure("detractor_share", 10, bad=0.5, good=0.0),
    Measure("features_used", 10, bad=1, good=5),
)


class ScorecardError(ValueError):
    """The scorecard settings are unusable; the message names the measure."""


@dataclass(frozen=True)
class Scorecard:
    measures: tuple[Measure, ...] = DEFAULT_MEASURES
    green_at: float = 70.0
    red_below: float = 40.0

    def __post_init__(self) -> None:
        for measure in self.measures:
            if measure.weight < 0:
                raise ScorecardError(f"measure {measure.feature!r} has a negative weight")
            if measure.bad == measure.good:
                raise ScorecardError(f"measure {measure.feature!r}: bad and good must differ")
        if not any(m.weight > 0 for m in self.measures):
            raise ScorecardError("at least one measure needs a weight above 0")
        if not 0 <= self.red_below <= self.green_at <= 100:
            raise ScorecardError("bands need 0 <= red below <= green at <= 100")

    @classmethod
    def from_settings(cls, settings: dict) -> Scorecard:
        """Build from stored settings ({"measures": [...], "green_at": ..., "red_below": ...})."""
        measures = tuple(Measure(**m) for m in settings.get("measures") or [])
        return cls(
            measures or DEFAULT_MEASURES,
            float(settings.get("green_at", 70.0)),
            float(settings.get("red_below", 40.0)),
        )

    def to_settings(self) -> dict:
        return {
            "measures": [asdict(m) for m in self.measures],
            "green_at": self.green_at,
            "red_below": self.red_below,
        }

    def points(self, features: pd.DataFrame) -> pd.DataFrame:
        """Each measure's 0-100 points per row; NaN where the measure is missing."""
        return pd.DataFrame(
            {
                m.feature: m.points(features[m.feature])
                if m.feature in features
                else np.full(len(features), np.nan)
                for m in self.measures
            },
            index=features.index,
        )

    def _weights(self, points: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """The measures' weights, and per row the total weight of the measures present."""
        weights = pd.Series({m.feature: m.weight for m in self.measures})
        total = points.notna().mul(weights, axis=1).sum(axis=1)
        return weights, total.replace(0, np.nan)

    def shares(self, features: pd.DataFrame) -> pd.DataFrame:
        """Each measure's points in the row's score (they add up to the score)."""
        points = self.points(features)
        weights, total = self._weights(points)
        return points.fillna(0).mul(weights, axis=1).div(total, axis=0)

    def score(self, features: pd.DataFrame, drivers: int = 3) -> pd.DataFrame:
        """Score 0-100 and band per row; drivers are the measures costing the most points."""
        points = self.points(features)
        weights, total = self._weights(points)
        score = self.shares(features).sum(axis=1, min_count=1).where(total.notna())
        score = score.fillna(50.0).round(1)  # no measure at all: neutral, and said so in drivers
        lost = (100 - points).mul(weights, axis=1).div(total, axis=0)
        return pd.DataFrame(
            {
                "score": score,
                "band": band_for(score, self.green_at, self.red_below),
                "churn_probability": None,
                "drivers": _drivers(lost, features, drivers),
                "context": [[] for _ in range(len(features))],
            },
            index=features.index,
        )

    def score_change(self, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
        """Each measure's share, in score points, of the move of the score from `before` to
        `after` (rows aligned): they add up to the change of the score."""
        return self.shares(after) - self.shares(before).to_numpy()


def _drivers(lost: pd.DataFrame, features: pd.DataFrame, limit: int) -> list[list[dict]]:
    ranked = np.argsort(-lost.fillna(-1).to_numpy(), axis=1)[:, :limit]
    matrix = lost.to_numpy()
    names = list(lost.columns)
    result = []
    for row, picks in enumerate(ranked):
        drivers = []
        for col in picks:
            if np.isnan(matrix[row, col]) or matrix[row, col] <= 0:
                continue
            feature = names[col]
            value = float(features[feature].iat[row])
            drivers.append(
                {
                    "feature": feature,
                    "value": round(value, 4),
                    "contribution": round(float(matrix[row, col]), 1),  # points lost
                    "sentence": sentence(feature, value),
                }
            )
        result.append(drivers)
    return result
