"""NPS, CSAT and CES as pure functions over plain scores or a DataFrame of responses.

Every headline metric is the mean of a per-answer value, which gives one variance formula for all
three kinds and lets breakdowns run set-wise in pandas:

* NPS: promoters (9-10) count +100, passives (7-8) 0, detractors (0-6) -100. The mean is
  %promoters - %detractors, and its variance is the multinomial one,
  ``(p + d - (p - d)^2) / n`` (in fractions), from which the margin of error follows.
* CSAT: answers 4-5 count 100, others 0: the mean is the share of satisfied answers.
* CES: answers 5-7 count 100, others 0: the share of "easy"; the mean score is reported too.

Trends mark each period `complete` or not: a period that has not ended yet (this month, so far)
is labelled partial and never enters a period-over-period significance test.

Score bands are named the NPS way for every kind (detractor / passive / promoter), so follow-up
texts and the closed loop need one vocabulary: CSAT 1-2 and CES 1-3 are detractors.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

SCORE_RANGES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
# Highest detractor score and lowest promoter score of each kind.
BAND_LIMITS: dict[str, tuple[int, int]] = {"nps": (6, 9), "csat": (2, 4), "ces": (3, 5)}
BANDS = ("detractor", "passive", "promoter")
PERIODS = {"week": "W", "month": "M", "quarter": "Q"}
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Summary:
    """The headline metric of a set of answers with its 95 % interval."""

    kind: str
    n: int
    value: float | None  # NPS (-100..100), or % satisfied / % easy (0..100)
    low: float | None
    high: float | None
    mean_score: float | None
    detractors: int
    passives: int
    promoters: int

    @property
    def margin(self) -> float | None:
        return None if self.value is None or self.high is None else self.high - self.value


@dataclass(frozen=True)
class Comparison:
    """Whether the metric moved between two periods more than chance explains."""

    before: Summary
    after: Summary
    difference: float | None
    z: float | None
    p_value: float | None

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value is not None and self.p_value < alpha


@dataclass(frozen=True)
class PeriodChange:
    """The comparison of the last two complete periods of a trend, with their labels."""

    before: str
    after: str
    comparison: Comparison


def check_kind(kind: str) -> None:
    if kind not in SCORE_RANGES:
        raise ValueError(f"unknown survey kind {kind!r}: use one of {', '.join(SCORE_RANGES)}")


def score_in_range(kind: str, score: int) -> bool:
    """True when `score` is a valid answer for a survey of `kind`."""
    check_kind(kind)
    low, high = SCORE_RANGES[kind]
    return low <= score <= high


def band(kind: str, score: int) -> str:
    """detractor, passive or promoter (NPS vocabulary, applied to every kind)."""
    if not score_in_range(kind, score):
        raise ValueError(f"score {score} is outside the {kind} range {SCORE_RANGES[kind]}")
    worst_detractor, best_start = BAND_LIMITS[kind]
    if score <= worst_detractor:
        return "detractor"
    return "promoter" if score >= best_start else "passive"


def is_detractor(kind: str, score: int) -> bool:
    """The answers that open a call-back task: NPS 0-6, CSAT 1-2, CES 1-3."""
    return band(kind, score) == "detractor"


def summarise_counts(
    kind: str, detractors: int, passives: int, promoters: int, score_sum: float | None = None
) -> Summary:
    """The headline metric and its normal-approximation 95 % interval from band counts."""
    check_kind(kind)
    n = detractors + passives + promoters
    mean_score = None if score_sum is None or n == 0 else score_sum / n
    if n == 0:
        return Summary(kind, 0, None, None, None, None, 0, 0, 0)
    mean, variance = _mean_and_variance(kind, detractors / n, promoters / n)
    margin = Z_95 * 100 * math.sqrt(variance / n)
    value = 100 * mean
    low, high = _bounds(kind)
    return Summary(
        kind,
        n,
        value,
        max(low, value - margin),
        min(high, value + margin),
        mean_score,
        detractors,
        passives,
        promoters,
    )


def summarise(kind: str, scores: Iterable[int]) -> Summary:
    """Summary of raw scores, e.g. ``summarise("nps", [10, 9, 3])``."""
    values = list(scores)
    bands = [band(kind, score) for score in values]
    return summarise_counts(
        kind,
        bands.count("detractor"),
        bands.count("passive"),
        bands.count("promoter"),
        float(sum(values)),
    )


def compare(kind: str, before: Sequence[int], after: Sequence[int]) -> Comparison:
    """Two-sample z-test on the per-answer values (unpooled variances) of two periods."""
    first, second = summarise(kind, before), summarise(kind, after)
    return compare_summaries(first, second)


def compare_summaries(first: Summary, second: Summary) -> Comparison:
    """The z-test of `compare` from two summaries (e.g. two rows of a trend)."""
    if first.n == 0 or second.n == 0 or first.value is None or second.value is None:
        return Comparison(first, second, None, None, None)
    difference = second.value - first.value
    standard_error = 100 * math.sqrt(_variance(first) / first.n + _variance(second) / second.n)
    if standard_error == 0:
        p_value = 1.0 if difference == 0 else 0.0
        return Comparison(first, second, difference, None, p_value)
    z = difference / standard_error
    return Comparison(first, second, difference, z, math.erfc(abs(z) / math.sqrt(2)))


def breakdown(frame: pd.DataFrame, kind: str, by: str | list[str]) -> pd.DataFrame:
    """One row per group of `by` with n, value, low, high, mean_score and the band counts.

    `frame` needs a `score` column and the `by` columns; groups are computed set-wise.
    """
    check_kind(kind)
    columns = ["n", "value", "low", "high", "mean_score", "detractors", "passives", "promoters"]
    keys = [by] if isinstance(by, str) else list(by)
    if frame.empty:
        return pd.DataFrame(columns=[*keys, *columns])
    worst_detractor, best_start = BAND_LIMITS[kind]
    work = frame.assign(
        detractors=(frame["score"] <= worst_detractor).astype(int),
        promoters=(frame["score"] >= best_start).astype(int),
    )
    work["passives"] = 1 - work["detractors"] - work["promoters"]
    grouped = work.groupby(keys, dropna=False, observed=True).agg(
        detractors=("detractors", "sum"),
        passives=("passives", "sum"),
        promoters=("promoters", "sum"),
        score_sum=("score", "sum"),
    )
    return _with_metrics(grouped, kind).reset_index()[[*keys, *columns]]


def trend(
    frame: pd.DataFrame,
    kind: str,
    period: str = "month",
    column: str = "responded_at",
    *,
    as_of: dt.date,
) -> pd.DataFrame:
    """`breakdown` by week, month or quarter of `column`; the period is a string like 2026-03.

    `complete` is False for a period that has not ended before `as_of`: the caller's today (a
    pure function reads no clock; the app's is `cs_platform.clock.today()`).
    """
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}: use one of {', '.join(PERIODS)}")
    periods = pd.to_datetime(frame[column]).dt.to_period(PERIODS[period])
    table = breakdown(frame.assign(period=periods.astype(str)), kind, "period")
    ends = {str(value): value.end_time.date() for value in periods.unique()}
    return table.assign(complete=[ends[label] < as_of for label in table["period"]])


def summary_of_row(kind: str, row: pd.Series) -> Summary:
    """The Summary of one row of `breakdown` or `trend`."""
    return summarise_counts(
        kind,
        int(row["detractors"]),
        int(row["passives"]),
        int(row["promoters"]),
        float(row["mean_score"] * row["n"]),
    )


def last_complete_change(table: pd.DataFrame, kind: str) -> PeriodChange | None:
    """The z-test between the last two complete periods of a `trend`; partial ones are skipped."""
    complete = table[table["complete"]]
    if len(complete) < 2:
        return None
    before, after = complete.iloc[-2], complete.iloc[-1]
    comparison = compare_summaries(summary_of_row(kind, before), summary_of_row(kind, after))
    return PeriodChange(str(before["period"]), str(after["period"]), comparison)


def _with_metrics(grouped: pd.DataFrame, kind: str) -> pd.DataFrame:
    n = grouped["detractors"] + grouped["passives"] + grouped["promoters"]
    d, p = grouped["detractors"] / n, grouped["promoters"] / n
    mean = p - d if kind == "nps" else p
    square_mean = p + d if kind == "nps" else p
    margin = Z_95 * 100 * ((square_mean - mean**2).clip(lower=0) / n) ** 0.5
    low, high = _bounds(kind)
    value = 100 * mean
    return grouped.assign(
        n=n,
        value=value,
        low=(value - margin).clip(lower=low),
        high=(value + margin).clip(upper=high),
        mean_score=grouped["score_sum"] / n,
    )


def _mean_and_variance(kind: str, d: float, p: float) -> tuple[float, float]:
    """Mean and variance (in fractions) of the per-answer value."""
    if kind == "nps":
        return p - d, max(0.0, p + d - (p - d) ** 2)
    return p, p * (1 - p)


def _variance(summary: Summary) -> float:
    return _mean_and_variance(
        summary.kind, summary.detractors / summary.n, summary.promoters / summary.n
    )[1]


def _bounds(kind: str) -> tuple[float, float]:
    return (-100.0, 100.0) if kind == "nps" else (0.0, 100.0)
