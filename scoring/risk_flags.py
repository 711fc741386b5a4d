"""Risk flags: one open Task per account and reason when churn risk passes a threshold or health
drops fast. An account with an open or snoozed task for the same reason gets no second one, so a
snoozed task comes back only when its snooze ends (tasks.jobs wakes it up)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from flask import current_app
from sqlalchemy import func, insert, select

from cs_platform.extensions import db
from cs_platform.models import Task, utcnow
from scoring.events import publish_risk_flags
from scoring.models import HealthScore

DROP_WINDOW_DAYS = 30
DUE_IN_DAYS = 7


@dataclass(frozen=True)
class FlagThresholds:
    """When a score raises a risk flag; the defaults live with the settings (SCORING_FLAG_*)."""

    p_before_renewal: float
    p_90d: float
    drop_points: float
    # Flag a 90-day risk this many times the book's average too (0: off). Absolute thresholds
    # alone rarely fire in a book whose 90-day base rate is a few percent.
    relative_90d: float

    @classmethod
    def from_config(cls) -> FlagThresholds:
        config = current_app.config
        return cls(
            config["SCORING_FLAG_RENEWAL_PERCENT"] / 100,
            config["SCORING_FLAG_90D_PERCENT"] / 100,
            float(config["SCORING_FLAG_DROP_POINTS"]),
            float(config["SCORING_FLAG_RELATIVE_RISK"]),
        )


def _peak_scores(day: dt.date) -> pd.Series:
    """Each account's highest health score in the 30 days before `day`."""
    query = (
        select(HealthScore.account_id, func.max(HealthScore.score).label("peak"))
        .where(
            HealthScore.scored_on >= day - dt.timedelta(days=DROP_WINDOW_DAYS),
            HealthScore.scored_on < day,
        )
        .group_by(HealthScore.account_id)
    )
    peaks = pd.read_sql(query, db.session.connection())
    return peaks.set_index("account_id")["peak"]


def driver_details(drivers: pd.Series) -> pd.Series:
    """A task's details for each row's drivers: the first three sentences, joined."""
    return drivers.map(lambda items: "; ".join(d["sentence"] for d in items[:3]))


def candidate_flags(
    frame: pd.DataFrame,
    scores: pd.DataFrame,
    risks: pd.DataFrame | None,
    peaks: pd.Series,
    thresholds: FlagThresholds,
) -> pd.DataFrame:
    """Rows (account_id, kind, reason, title, severity, details) for every threshold crossed;
    `scores` has each row's score and its task `details` (driver_details). Pure."""
    base = pd.DataFrame({"account_id": frame["account_id"], "details": scores["details"]})
    parts = []
    if risks is not None:
        for column, limit, words in (
            ("p_churn_before_renewal", thresholds.p_before_renewal, "before renewal"),
            ("p_churn_90d", thresholds.p_90d, "within 90 days"),
        ):
            hit = risks[column] >= limit
            chosen = base[hit].assign(
                kind="churn_risk",
                reason=column,
                title=[f"Churn risk {p:.0%} {words}" for p in risks.loc[hit, column]],
                severity=["high" if p >= 0.7 else "medium" for p in risks.loc[hit, column]],
            )
            parts.append(chosen)
        parts.append(_relative_risk_flags(base, risks, thresholds))
    peak = peaks.reindex(frame["account_id"]).to_numpy(float)
    drop = np.nan_to_num(peak - scores["score"].to_numpy(float), nan=0.0)  # no history: no drop
    hit = pd.Series(drop >= thresholds.drop_points, index=frame.index)
    parts.append(
        base[hit].assign(
            kind="health_drop",
            reason="health_drop",
            title=[f"Health down {d:.0f} points in 30 days" for d in drop[hit.to_numpy()]],
            severity="medium",
        )
    )
    return pd.concat(parts, ignore_index=True)


def _relative_risk_flags(
    base: pd.DataFrame, risks: pd.DataFrame, thresholds: FlagThresholds
) -> pd.DataFrame:
    """Accounts whose 90-day risk is `relative_90d` times the book's average or more (and
    below the absolute threshold, which flags them already)."""
    average = risks["p_churn_90d"].mean()
    if thresholds.relative_90d <= 0 or not average > 0:
        return base.iloc[0:0]
    lift = risks["p_churn_90d"] / average
    hit = (lift >= thresholds.relative_90d) & (risks["p_churn_90d"] < thresholds.p_90d)
    return base[hit].assign(
        kind="churn_risk",
        reason="relative_90d",
        title=[
            f"Churn risk {p:.1%} within 90 days, {x:.1f}× the book's average"
            for p, x in zip(risks.loc[hit, "p_churn_90d"], lift[hit], strict=True)
        ],
        severity=["high" if x >= 2 * thresholds.relative_90d else "medium" for x in lift[hit]],
    )


def raise_risk_flags(
    day: dt.date,
    frame: pd.DataFrame,
    scores: pd.DataFrame,
    risks: pd.DataFrame | None,
    thresholds: FlagThresholds,
) -> int:
    """Create the tasks for today's crossings that have no open or snoozed twin; flushes and
    returns how many were created."""
    flags = candidate_flags(frame, scores, risks, _peak_scores(day), thresholds)
    if flags.empty:
        return 0
    existing = pd.read_sql(
        select(Task.account_id, Task.kind, Task.reason).where(
            Task.status != "done", Task.kind.in_(("churn_risk", "health_drop"))
        ),
        db.session.connection(),
    ).assign(exists=True)
    flags = flags.merge(existing, on=["account_id", "kind", "reason"], how="left")
    flags = flags[flags["exists"].isna()]
    owners = frame.set_index("account_id")["owner_id"]
    now = utcnow()
    rows = [
        {
            "account_id": int(row.account_id),
            "kind": row.kind,
            "reason": row.reason,
            "title": row.title,
            "severity": row.severity,
            "details": row.details,
            "owner_id": _owner(owners.get(row.account_id)),
            "due_date": day + dt.timedelta(days=DUE_IN_DAYS),
            "status": "open",
            "created_at": now,
        }
        for row in flags.itertuples(index=False)
    ]
    if rows:
        db.session.execute(insert(Task), rows)
        publish_risk_flags(day, now)
    return len(rows)


def _owner(value: Any) -> int | None:  # a cell of the frame: an id, NaN or None
    return None if value is None or pd.isna(value) else int(value)
