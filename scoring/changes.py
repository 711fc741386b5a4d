"""What moved each account's score since last week and since last month.

Today's scorer (the learned model or the scorecard) scores each account's features as they were
on the look-back day and splits the difference into its inputs, in score points that add up to
the change ("-12: active users down 40 %"). When the score written that day differs from today's
scorer's view of it (the model was retrained, the scorecard edited), the gap is one more part,
"Scoring model changed", so the parts add up to the move the history shows. One feature build
per look-back, set-wise; the per-account loop only picks each row's largest parts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from cs_platform.extensions import db
from scoring.explain import change_sentence
from scoring.features import CONTEXT_FEATURES, features_as_of, model_inputs
from scoring.models import HealthScore

LOOKBACK_DAYS = (7, 30)
SEARCH_DAYS = 6  # a look-back day may fall on the nearest scoring day up to this much earlier
MIN_POINTS = 0.5  # a part smaller than this is not worth a line
PARTS = 3
SCORER_PART = "scoring_model"


class Scorer(Protocol):
    def score_change(self, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame: ...


def lookback_day(day: dt.date, days: int) -> dt.date:
    """The latest scoring day in the week up to `days` before `day`, else that day itself."""
    target = day - dt.timedelta(days=days)
    found = db.session.scalar(
        select(func.max(HealthScore.scored_on)).where(
            HealthScore.scored_on <= target,
            HealthScore.scored_on >= target - dt.timedelta(days=SEARCH_DAYS),
        )
    )
    return found or target


def _written_scores(day: dt.date) -> pd.Series:
    """account_id -> the score written on `day` (empty when that day was not scored)."""
    rows = db.session.execute(
        select(HealthScore.account_id, HealthScore.score).where(HealthScore.scored_on == day)
    ).all()
    return pd.Series(dict(rows), dtype=float)


@dataclass(frozen=True)
class Lookback:
    """A look-back of the day: its scoring day, the features then and the scores written then."""

    days: int
    since: dt.date
    then: pd.DataFrame  # features as of `since`, indexed by account id
    written: pd.Series  # account_id -> the score written on `since`


def lookbacks(day: dt.date) -> list[Lookback]:
    """The day's look-backs (LOOKBACK_DAYS), each read once for every account."""
    found = []
    for days in LOOKBACK_DAYS:
        since = lookback_day(day, days)
        found.append(Lookback(days, since, features_as_of(since), _written_scores(since)))
    return found


def score_changes(
    frame: pd.DataFrame, scores: pd.DataFrame, scorer: Scorer, looks: list[Lookback]
) -> list[dict]:
    """Per row of `frame` (today's features, indexed by account id), its changes by look-back:
    {"7": {"since", "previous_score", "delta", "parts"}, "30": ...}; a look-back is missing
    where the account was not yet a customer then."""
    result: list[dict] = [{} for _ in range(len(frame))]
    position = pd.Series(np.arange(len(frame)), index=frame.index)
    for look in looks:
        common = frame.index.intersection(look.then.index)
        if common.empty:
            continue
        changes = _changes(look, frame.loc[common], scores.loc[common], scorer)
        for row, change in zip(position[common].tolist(), changes, strict=True):
            result[row][str(look.days)] = change
    return result


def _changes(look: Lookback, now: pd.DataFrame, scores: pd.DataFrame, scorer: Scorer) -> list[dict]:
    before, after = model_inputs(look.then.loc[now.index]), model_inputs(now)
    parts = scorer.score_change(before, after)
    current = scores["score"].to_numpy(float)
    recomputed = current - parts.sum(axis=1).to_numpy()
    written = look.written.reindex(now.index).to_numpy(float)
    previous = np.where(np.isnan(written), recomputed, written)
    parts[SCORER_PART] = recomputed - previous
    matrix = parts.to_numpy(float)
    order = np.argsort(-np.abs(matrix), axis=1)[:, :PARTS]
    names = parts.columns.to_numpy()
    values = _Values(before, after)
    return [
        {
            "since": look.since.isoformat(),
            "previous_score": round(float(previous[row]), 1),
            "delta": round(float(current[row] - previous[row]), 1),
            "parts": [
                _part(str(names[col]), float(matrix[row, col]), values, row)
                for col in order[row]
                if abs(matrix[row, col]) >= MIN_POINTS
            ],
        }
        for row in range(len(matrix))
    ]


class _Values:
    """The features before and after, read cell by cell as plain values (one conversion of
    each frame to a matrix, not a pandas lookup per cell)."""

    def __init__(self, before: pd.DataFrame, after: pd.DataFrame) -> None:
        self.columns = {name: col for col, name in enumerate(before.columns)}
        self.before = before.to_numpy(object)
        self.after = after.to_numpy(object)

    def pair(self, feature: str, row: int) -> tuple[object, object]:
        col = self.columns[feature]
        return _value(self.before[row, col]), _value(self.after[row, col])


def _part(feature: str, points: float, values: _Values, row: int) -> dict:
    if feature == SCORER_PART:
        text = "Scoring model changed since then"
    else:
        text = change_sentence(feature, *values.pair(feature, row))
    return {
        "feature": feature,
        "points": round(points, 1),
        "sentence": text,
        "context": feature in CONTEXT_FEATURES,
    }


def _value(value: object) -> object:
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else round(float(value), 4)
    return None if value is None or value is pd.NA else str(value)
