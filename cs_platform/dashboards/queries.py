"""Set-wise read models of the dashboards (one grouped query each, never a loop over accounts)."""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Integer, and_, case, cast, func, select

from cs_platform.accounts import risk
from cs_platform.extensions import db
from cs_platform.models import Account, Task
from scoring.models import MODEL_KINDS, HealthScore, ModelVersion
from surveys import survey_metrics
from surveys.models import SurveyResponse

TREND_MONTHS = 12
SNAPSHOT_STEP_DAYS = 30
CALIBRATION_HORIZON_DAYS = 90
RISK_TASK_KINDS = ("churn_risk", "health_drop", "detractor")


@dataclass(frozen=True)
class BandTotal:
    band: str | None
    accounts: int
    arr: float


def book_by_band(today: dt.date) -> list[BandTotal]:
    """Live accounts and their ARR per current band (overrides included), red first."""
    view = risk.risk_query(risk.RiskFilters(view="all"), 0, today, risk.ScoringDays.latest())
    current = view.order_by(None).subquery()
    order = case({"red": 0, "yellow": 1, "green": 2}, value=current.c.band, else_=3)
    query = (
        select(current.c.band, func.count(), func.coalesce(func.sum(current.c.arr), 0))
        .group_by(current.c.band)
        .order_by(order)
    )
    return [BandTotal(band, count, float(arr)) for band, count, arr in db.session.execute(query)]


def snapshot_days(day: dt.date, count: int = TREND_MONTHS) -> list[dt.date]:
    """Up to `count` scoring days about 30 days apart, ending on `day`, oldest first: for each
    target date, the latest day a scoring run wrote on or before it (runs may skip days)."""
    first = day - dt.timedelta(days=SNAPSHOT_STEP_DAYS * (count - 1))
    scored = list(
        db.session.scalars(
            select(HealthScore.scored_on)
            .where(HealthScore.scored_on.between(first - dt.timedelta(SNAPSHOT_STEP_DAYS), day))
            .distinct()
            .order_by(HealthScore.scored_on)
        )
    )
    targets = [day - dt.timedelta(days=SNAPSHOT_STEP_DAYS * k) for k in range(count - 1, -1, -1)]
    picked = []
    for target in targets:
        position = bisect.bisect_right(scored, target)
        if position and scored[position - 1] not in picked:
            picked.append(scored[position - 1])
    return picked


def band_trend(days: list[dt.date]) -> dict[str, dict[dt.date, int]]:
    """Accounts per model band on each of `days`: {band: {day: count}}."""
    query = (
        select(HealthScore.scored_on, HealthScore.band, func.count())
        .where(HealthScore.scored_on.in_(days))
        .group_by(HealthScore.scored_on, HealthScore.band)
    )
    result: dict[str, dict[dt.date, int]] = {"red": {}, "yellow": {}, "green": {}}
    for day, band, count in db.session.execute(query):
        result.setdefault(band, {})[day] = count
    return result


def survey_trends(since: dt.datetime, today: dt.date) -> dict[str, pd.DataFrame]:
    """Monthly NPS / CSAT / CES with 95 % intervals (survey_metrics.trend), one frame a kind;
    each month is `complete` or not as of `today`. `since` should start a month."""
    query = select(SurveyResponse.kind, SurveyResponse.score, SurveyResponse.responded_at).where(
        SurveyResponse.responded_at >= since
    )
    frame = pd.DataFrame(db.session.execute(query).all(), columns=["kind", "score", "responded_at"])
    return {
        kind: survey_metrics.trend(frame[frame["kind"] == kind], kind, "month", as_of=today)
        for kind in survey_metrics.SCORE_RANGES
        if (frame["kind"] == kind).any()
    }


def active_models() -> dict[str, ModelVersion | None]:
    """The active model of each kind, with its training time and metrics."""
    rows = db.session.scalars(select(ModelVersion).where(ModelVersion.active.is_(True))).all()
    latest = {row.kind: row for row in sorted(rows, key=lambda row: row.trained_at)}
    return {kind: latest.get(kind) for kind in MODEL_KINDS}


@dataclass(frozen=True)
class CalibrationBin:
    predicted: float
    observed: float
    accounts: int


def live_calibration(day: dt.date) -> list[CalibrationBin]:
    """Predicted churn probability at the last scoring 90+ days before `day` against the share
    that churned since, per tenth of probability: how well the scores held up on this book."""
    snapshot = db.session.scalar(
        select(func.max(HealthScore.scored_on)).where(
            HealthScore.scored_on <= day - dt.timedelta(days=CALIBRATION_HORIZON_DAYS)
        )
    )
    if snapshot is None:
        return []
    churned = and_(Account.churned_at.is_not(None), Account.churned_at <= day)
    decile = cast(HealthScore.churn_probability * 10, Integer)
    query = (
        select(
            func.avg(HealthScore.churn_probability),
            func.avg(case((churned, 1.0), else_=0.0)),
            func.count(),
        )
        .join(Account, Account.id == HealthScore.account_id)
        .where(HealthScore.scored_on == snapshot, HealthScore.churn_probability.is_not(None))
        .group_by(decile)
        .order_by(decile)
    )
    return [
        CalibrationBin(float(p), float(observed), count)
        for p, observed, count in db.session.execute(query)
    ]


def risk_task_outcomes(since: dt.datetime) -> dict[str, int]:
    """How closed risk tasks ended since `since`: {outcome: count}."""
    query = (
        select(Task.outcome, func.count())
        .where(
            Task.status == "done",
            Task.kind.in_(RISK_TASK_KINDS),
            Task.completed_at >= since,
        )
        .group_by(Task.outcome)
    )
    return {outcome or "none": count for outcome, count in db.session.execute(query)}
