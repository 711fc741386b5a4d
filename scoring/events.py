"""The scoring domain's webhook events: health_score.changed, found set-wise after each nightly
run with a band hysteresis (a score wiggling across a band edge announces nothing), and
churn_risk.flagged (with task.created) for the tasks the nightly risk flagging raised. Publishing,
storing and delivering them is the kernel's (`cs_platform.webhooks.events`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Row,
    ScalarSelect,
    Table,
    case,
    delete,
    func,
    select,
)

from cs_platform.bulk_writes import in_values, upsert
from cs_platform.extensions import db
from cs_platform.models import Task
from cs_platform.webhooks.events import publish_events, task_data
from scoring.models import AnnouncedBand, ChurnRisk, HealthScore
from scoring.services import load_scorecard, model_bands

SCORE_COLUMNS = ("account_id", "scored_on", "score", "band", "method", "churn_probability")
DRIVERS_READ = 10_000  # accounts whose drivers one query reads
RISK_FIGURES = ("p_churn_before_renewal", "p_churn_90d", "expected_remaining_months")
# A band change is announced only once the score is this far past the edge it crossed.
DEFAULT_BAND_MARGIN_POINTS = 2.0


@dataclass(frozen=True)
class ScorePoint:
    """A health score as the change rule sees it."""

    score: float
    band: str


@dataclass(frozen=True)
class BandEdges:
    """Where the bands of one scale start: green from `green_at`, red below `red_below`."""

    green_at: float
    red_below: float

    def outside(self, score: float, band: str, margin: float) -> bool:
        """Whether `score` lies at least `margin` points beyond an edge of `band`."""
        lower = {"green": self.green_at, "yellow": self.red_below}.get(band)
        upper = {"yellow": self.green_at, "red": self.red_below}.get(band)
        below = lower is not None and lower - score >= margin
        return below or (upper is not None and score - upper >= margin)


def announced_band(now: ScorePoint, last: str | None, edges: BandEdges, margin: float) -> str:
    """The band to announce for `now` after `last` was announced (hysteresis): the score's own
    band once it is at least `margin` points past an edge of `last`, else still `last`, so a
    score wiggling across an edge (49.9, 50.1, 49.8) announces nothing."""
    if last is None or now.band == last or edges.outside(now.score, last, margin):
        return now.band
    return last


def health_score_changed(before: ScorePoint | None, after: ScorePoint, points: float) -> bool:
    """A change worth an event: the band changed, or the score moved by more than `points`.
    An account's first score is not a change."""
    if before is None:
        return False
    return before.band != after.band or abs(after.score - before.score) > points


def band_edges() -> dict[str, BandEdges]:
    """The band edges of each scoring method: the learned model's and the scorecard's."""
    scorecard = load_scorecard()
    return {
        "model": BandEdges(**model_bands()),
        "scorecard": BandEdges(scorecard.green_at, scorecard.red_below),
    }


def health_score_changes(scored_on: dt.date) -> list[dict[str, Any]]:
    """The accounts whose score of `scored_on` is worth telling someone about, found set-wise:
    the announced band changed (see announced_band; HEALTH_BAND_MARGIN_POINTS), or the score
    moved more than HEALTH_CHANGE_POINTS since the previous day. Records the bands announced
    (flushes), so a re-run of the day finds the same changes."""
    config = current_app.config
    points = config["HEALTH_CHANGE_POINTS"]
    margin = float(config.get("HEALTH_BAND_MARGIN_POINTS", DEFAULT_BAND_MARGIN_POINTS))
    edges = band_edges()
    changes, announced = [], []
    for row in scores_with_baselines(scored_on):
        last = row.announced_band or row.previous_band
        band = announced_band(ScorePoint(row.score, row.band), last, edges[row.method], margin)
        before = None if row.previous_score is None else ScorePoint(row.previous_score, last)
        changed = health_score_changed(before, ScorePoint(row.score, band), points)
        if changed:
            changes.append(change_data(row, band, last))
        if row.announced_band is None or (changed and band != last):
            announced.append({"account_id": row.account_id, "scored_on": scored_on, "band": band})
    record_announced_bands(scored_on, announced)
    return with_drivers(scored_on, changes)


def scores_with_baselines(scored_on: dt.date) -> Sequence[Row]:
    """Every score of `scored_on` (no drivers, context or changes: those are read only for the
    accounts that changed) with the account's previous score and band, and the band last
    announced for it before that day (None for a first score or a first run): one query that
    joins the latest earlier scoring day's rows set-wise and looks an account's latest earlier
    score up by index only where it has none that day (a new account, a day it was not scored)."""
    scores = HealthScore.__table__
    current, day_before = scores.alias("current"), scores.alias("day_before")
    latest_day = select(func.max(scores.c.scored_on)).where(scores.c.scored_on < scored_on)
    previous_score, previous_band = (
        case(
            (day_before.c.id.is_(None), _latest_before(scores, column, current, scored_on)),
            else_=day_before.c[column.name],
        )
        for column in (scores.c.score, scores.c.band)
    )
    bands = AnnouncedBand.__table__
    return db.session.execute(
        select(
            *(current.c[name] for name in SCORE_COLUMNS),
            previous_score.label("previous_score"),
            previous_band.label("previous_band"),
            _latest_before(bands, bands.c.band, current, scored_on).label("announced_band"),
        )
        .select_from(current)
        .outerjoin(
            day_before,
            (day_before.c.account_id == current.c.account_id)
            & (day_before.c.scored_on == latest_day.scalar_subquery()),
        )
        .where(current.c.scored_on == scored_on)
        .order_by(current.c.account_id)
    ).all()


def _latest_before(
    table: Table, column: ColumnElement[Any], current: FromClause, day: dt.date
) -> ScalarSelect[Any]:
    """`column` of the account's latest row in `table` before `day` (an index probe per row)."""
    return (
        select(column)
        .where(table.c.account_id == current.c.account_id, table.c.scored_on < day)
        .order_by(table.c.scored_on.desc())
        .limit(1)
        .correlate(current)
        .scalar_subquery()
    )


def change_data(row: Row[Any], band: str, previous_band: str) -> dict[str, Any]:
    """The data of health_score.changed, bands as announced, but for the drivers
    (with_drivers)."""
    return {
        "account_id": row.account_id,
        "scored_on": row.scored_on.isoformat(),
        "score": row.score,
        "band": band,
        "previous_score": row.previous_score,
        "previous_band": previous_band,
        "churn_probability": row.churn_probability,
    }


def with_drivers(scored_on: dt.date, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`changes` with each account's top drivers of `scored_on`, read for those accounts only."""
    ids = [change["account_id"] for change in changes]
    drivers: dict[int, Any] = {}
    for start in range(0, len(ids), DRIVERS_READ):
        query = select(HealthScore.account_id, HealthScore.drivers).where(
            HealthScore.scored_on == scored_on,
            in_values(HealthScore.account_id, ids[start : start + DRIVERS_READ]),
        )
        drivers.update(tuple(row) for row in db.session.execute(query))
    for change in changes:
        change["drivers"] = drivers.get(change["account_id"]) or []
    return changes


def record_announced_bands(scored_on: dt.date, rows: list[dict[str, Any]]) -> None:
    """Replace the bands announced on `scored_on` with `rows` (a re-run of the day)."""
    db.session.execute(delete(AnnouncedBand).where(AnnouncedBand.scored_on == scored_on))
    upsert(AnnouncedBand.__table__, rows, ("account_id", "scored_on"))


def publish_health_score_changes(changes: Sequence[dict[str, Any]]) -> int:
    """Announce health_score.changed for `health_score_changes`; the event id is the account
    and day, so a re-run of the same day queues nothing new."""
    return publish_events(
        "health_score.changed",
        changes,
        [f"msg_health_{change['account_id']}_{change['scored_on']}" for change in changes],
    )


def publish_risk_flags(day: dt.date, created_at: dt.datetime) -> int:
    """task.created for the tasks the nightly risk flagging inserted at `created_at`, and
    churn_risk.flagged for its churn-risk tasks with that day's risk figures (set-wise)."""
    tasks = db.session.scalars(
        select(Task).where(
            Task.created_at == created_at, Task.kind.in_(("churn_risk", "health_drop"))
        )
    ).all()
    count = publish_events(
        "task.created", [task_data(task) for task in tasks], [f"msg_task_{t.id}" for t in tasks]
    )
    flagged = [task for task in tasks if task.kind == "churn_risk"]
    flagged_accounts = select(Task.account_id).where(
        Task.created_at == created_at, Task.kind == "churn_risk"
    )
    figures = [getattr(ChurnRisk, name) for name in RISK_FIGURES]
    risks = {
        account_id: dict(zip(RISK_FIGURES, values, strict=True))
        for account_id, *values in db.session.execute(
            select(ChurnRisk.account_id, *figures).where(
                ChurnRisk.scored_on == day, ChurnRisk.account_id.in_(flagged_accounts)
            )
        )
    }  # a subquery, not a list of ids: a night may flag more accounts than a statement binds
    no_risk = dict.fromkeys(RISK_FIGURES)
    items = [
        {
            "account_id": task.account_id,
            "task_id": task.id,
            "scored_on": day.isoformat(),
            "reason": task.reason,
            "title": task.title,
            **risks.get(task.account_id, no_risk),
        }
        for task in flagged
    ]
    return count + publish_events(
        "churn_risk.flagged", items, [f"msg_churn_risk_{t.id}" for t in flagged]
    )
