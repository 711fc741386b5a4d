"""Training sets from monthly point-in-time snapshots.

Health rows: the features of each account alive on a snapshot day, labelled 1 when it churned
within the next 90 days. Survival rows: the same snapshots as non-overlapping intervals of tenure
(start at the snapshot, stop at the next snapshot or at churn), the counting-process form of a
Cox model with time-varying covariates. Labels read `churned_at`, which features never see.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from scoring.features import MONTH_DAYS, features_as_of, stack

SNAPSHOT_STEP_DAYS = 30
HORIZON_DAYS = 90


class NotEnoughHistoryError(Exception):
    """Too few churn events to train; the scorecard keeps scoring."""


@dataclass
class TrainingData:
    health: pd.DataFrame  # features + "label" + "as_of"
    survival: pd.DataFrame  # features + "start", "stop", "event" (months of tenure) + "as_of"
    churn_events: int


def snapshot_dates(as_of: dt.date, months: int) -> list[dt.date]:
    """Monthly snapshot days before `as_of`, oldest first: `months` days whose 90-day label is
    complete, plus the ones since (which only the survival intervals use)."""
    extra = HORIZON_DAYS // SNAPSHOT_STEP_DAYS
    count = months + extra
    return [as_of - dt.timedelta(days=SNAPSHOT_STEP_DAYS * k) for k in range(count, 0, -1)]


def health_rows(snapshot: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """`snapshot` labelled: churned within HORIZON_DAYS after `day`."""
    churned = pd.to_datetime(snapshot["churned_at"])
    horizon = pd.Timestamp(day + dt.timedelta(days=HORIZON_DAYS))
    return snapshot.assign(label=(churned <= horizon).astype(int))


def survival_rows(snapshot: pd.DataFrame, day: dt.date, until: dt.date) -> pd.DataFrame:
    """`snapshot` as tenure intervals from `day` to `until` or to churn, whichever is first."""
    churned = pd.to_datetime(snapshot["churned_at"])
    end = churned.where(churned <= pd.Timestamp(until), pd.Timestamp(until))
    length = (end - pd.Timestamp(day)).dt.days / MONTH_DAYS
    rows = snapshot.assign(
        start=snapshot["tenure_months"],
        stop=snapshot["tenure_months"] + length,
        event=(churned <= pd.Timestamp(until)).astype(int),
    )
    return rows[rows["stop"] > rows["start"]]


def build_training_data(as_of: dt.date, months: int) -> TrainingData:
    """Snapshots of the last `months` months (plus the three whose labels are still open)."""
    dates = snapshot_dates(as_of, months)
    snapshots = {day: features_as_of(day) for day in dates}
    bounds = [*dates[1:], as_of]
    health = [
        health_rows(snapshots[day], day)
        for day in dates
        if day + dt.timedelta(days=HORIZON_DAYS) <= as_of
    ]
    survival = [
        survival_rows(snapshots[day], day, until) for day, until in zip(dates, bounds, strict=True)
    ]
    survival_frame = stack(survival)
    churned = survival_frame.loc[survival_frame["event"] == 1, "account_id"].nunique()
    return TrainingData(stack(health), survival_frame, int(churned))


def split_by_time(
    frame: pd.DataFrame, test_share: float = 0.2
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Older snapshots to train, the latest ones (at least one day) held out."""
    days = sorted(frame["as_of"].unique())
    held = max(1, round(len(days) * test_share))
    cutoff = days[-held]
    return frame[frame["as_of"] < cutoff], frame[frame["as_of"] >= cutoff]
