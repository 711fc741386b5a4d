"""Turn a feature DataFrame into model-ready numbers: one-hot categories, checked columns.

Pure pandas: no Flask, no database. The same encoder serves the health model, the survival model
and the logistic-regression baseline, so every model sees the same columns in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# A category seen in fewer rows than this is folded into "other".
MIN_CATEGORY_ROWS = 5
MAX_CATEGORY_LEVELS = 20


class FeatureError(ValueError):
    """A feature column cannot be used; the message names the column."""


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


@dataclass
class FeatureEncoder:
    """Remembers which columns were numeric or categorical at fit time and their levels."""

    numeric: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)
    medians: dict[str, float] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)  # column -> why it was left out

    @classmethod
    def fit(cls, frame: pd.DataFrame, *, strict: bool = False) -> FeatureEncoder:
        """Learn the columns of `frame`; `strict` raises on a constant or all-missing column
        (a user's CSV), otherwise such columns are left out and listed in `dropped`."""
        encoder = cls()
        for column in frame.columns:
            series = frame[column]
            problem = _column_problem(series)
            if problem:
                if strict:
                    raise FeatureError(f"column {column!r} {problem}: remove it or fix the data")
                encoder.dropped[column] = problem
            elif _is_numeric(series):
                encoder.numeric.append(column)
                encoder.medians[column] = float(series.median())
            else:
                encoder.categories[column] = _levels(series)
        if not encoder.numeric and not encoder.categories:
            raise FeatureError("no usable feature columns: every column is constant or missing")
        return encoder

    @property
    def columns(self) -> list[str]:
        """The encoded column names, in model order."""
        dummies = [f"{col}={level}" for col, levels in self.categories.items() for level in levels]
        return self.numeric + dummies

    def source_of(self, encoded: str) -> str:
        """The input column an encoded column came from ("plan=starter" -> "plan")."""
        return encoded.split("=", 1)[0] if encoded not in self.numeric else encoded

    def transform(self, frame: pd.DataFrame, *, impute: bool = False) -> pd.DataFrame:
        """Encode `frame`; missing numbers stay NaN (XGBoost handles them) unless `impute`."""
        missing = [c for c in [*self.numeric, *self.categories] if c not in frame.columns]
        if missing:
            raise FeatureError(f"missing feature column {missing[0]!r}")
        parts = [self._numeric_part(frame, impute)]
        for column, levels in self.categories.items():
            values = frame[column].astype("string").fillna("missing")
            values = values.where(values.isin(levels), "other")
            parts.append(
                pd.DataFrame(
                    {f"{column}={level}": (values == level).to_numpy(float) for level in levels},
                    index=frame.index,
                )
            )
        return pd.concat(parts, axis=1)[self.columns]

    def _numeric_part(self, frame: pd.DataFrame, impute: bool) -> pd.DataFrame:
        numbers = frame[self.numeric].astype(float)
        return numbers.fillna(self.medians) if impute else numbers


def _column_problem(series: pd.Series) -> str:
    if series.isna().all():
        return "is empty (every value is missing)"
    if series.nunique(dropna=True) < 2:
        return "is constant (one value in every row)"
    return ""


def _levels(series: pd.Series) -> list[str]:
    counts = series.astype("string").fillna("missing").value_counts()
    kept = [str(level) for level, n in counts.items() if n >= MIN_CATEGORY_ROWS]
    kept = kept[:MAX_CATEGORY_LEVELS]
    return [*kept, "other"] if len(kept) < len(counts) else kept


def numeric_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """`frame[column]` as floats, or a FeatureError naming the column and a bad value."""
    if column not in frame.columns:
        raise FeatureError(f"missing column {column!r}")
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = frame[column][values.isna() & frame[column].notna()]
    if len(bad):
        raise FeatureError(f"column {column!r} has a non-numeric value {bad.iloc[0]!r}")
    if values.isna().any():
        raise FeatureError(f"column {column!r} has missing values")
    return values.astype(float)


def as_numpy(frame: pd.DataFrame) -> np.ndarray:
    """The encoded frame as a float32 matrix (what XGBoost stores)."""
    return frame.to_numpy(dtype=np.float32, na_value=np.nan)
