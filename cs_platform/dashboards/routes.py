"""Dashboards for CSMs and their managers: book of business, surveys, model health, outcomes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from flask import Blueprint, render_template
from flask_login import current_user, login_required
from markupsafe import Markup

from cs_platform import clock
from cs_platform.accounts import risk, saved_views
from cs_platform.accounts.figures import date_ticks
from cs_platform.charts import Series, bar_chart, line_chart
from cs_platform.dashboards import queries
from cs_platform.tasks.services import OUTCOME_LABELS

bp = Blueprint("dashboards", __name__)
BAND_ORDER = ("red", "yellow", "green")
SURVEY_LABELS = {"nps": "NPS", "csat": "CSAT (% satisfied)", "ces": "CES (% easy)"}


@dataclass(frozen=True)
class SurveyChart:
    """A survey kind's monthly chart, with a note naming the month still under way, if any."""

    label: str
    chart: Markup
    partial_note: str = ""


@bp.route("/dashboards")
@login_required
def overview():
    """One page of dashboards: the user's saved views with their counts, the book by band,
    its trend, survey metrics, models, outcomes."""
    today = clock.today()
    day = risk.reference_day()
    year_ago = dt.datetime.combine(today - dt.timedelta(days=365), dt.time())
    snapshots = queries.snapshot_days(day)
    book = queries.book_by_band(today)
    outcomes = queries.risk_task_outcomes(year_ago)
    closed = sum(outcomes.values())
    models = queries.active_models()
    health_model = models.get("health")
    calibration = (health_model.metrics.get("calibration") if health_model else None) or []
    views = saved_views.visible_views(current_user)
    return render_template(
        "dashboards/overview.html",
        views=views,
        view_counts=saved_views.view_counts(views, current_user.id, today),
        book=book,
        total_arr=sum(row.arr for row in book),
        total_accounts=sum(row.accounts for row in book),
        accounts_chart=bar_chart(
            [(band_label(row.band), row.accounts) for row in book],
            title="Accounts by band",
            css=[f"band-{row.band}" for row in book],
        ),
        arr_chart=bar_chart(
            [(band_label(row.band), row.arr) for row in book],
            title="ARR by band",
            css=[f"band-{row.band}" for row in book],
            value_format=lambda v: f"${v:,.0f}",
        ),
        trend_span=band_trend_span(snapshots),
        trend_chart=band_trend_chart(snapshots),
        survey_charts=survey_charts(queries.survey_trends(months_back(today, 12), today)),
        models=models,
        calibration_chart=calibration_chart(calibration, day),
        outcomes=outcomes,
        closed=closed,
        saved_share=(outcomes.get("saved", 0) / closed) if closed else None,
        outcomes_chart=bar_chart(
            [(OUTCOME_LABELS.get(key, key), count) for key, count in outcomes.items()],
            title="Closed risk tasks by outcome, last 12 months",
        ),
    )


def band_label(band: str | None) -> str:
    return band.title() if band else "Not scored"


def months_back(today: dt.date, months: int) -> dt.datetime:
    """Midnight on the first day of the month `months` before this one: whole months only."""
    index = today.year * 12 + today.month - 1 - months
    return dt.datetime(index // 12, index % 12 + 1, 1)


def band_trend_span(days: list[dt.date]) -> str:
    """What the band trend covers: the last 12 months, or since the first scores there are."""
    if not days or len(days) == queries.TREND_MONTHS:
        return "over the last 12 months"
    return f"since {days[0]:%d %b %Y}, the earliest monthly snapshot"


def band_trend_chart(days: list[dt.date]) -> Markup:
    title = f"Accounts per band {band_trend_span(days)}"
    if not days:
        return line_chart([], title=title)
    trend = queries.band_trend(days)
    series = [
        Series(
            band.title(),
            [(float(day.toordinal()), float(trend.get(band, {}).get(day, 0))) for day in days],
            css=f"band-line-{band}",
        )
        for band in BAND_ORDER
    ]
    return line_chart(series, title=title, ticks=date_ticks(days[0], days[-1]))


def survey_charts(trends: dict[str, pd.DataFrame]) -> list[SurveyChart]:
    """One chart per survey kind: complete months with their 95 % interval shaded, and the
    month under way, if any, as a dashed "So far" segment named in the title and the note."""
    return [survey_chart(kind, frame) for kind, frame in trends.items()]


def survey_chart(kind: str, frame: pd.DataFrame) -> SurveyChart:
    label = SURVEY_LABELS[kind]
    points = list(zip(map(float, range(len(frame))), frame["value"].astype(float), strict=True))
    complete = list(frame["complete"])
    series = [
        Series(
            "Month",
            [point for point, done in zip(points, complete, strict=True) if done],
            lower=list(frame.loc[frame["complete"], "low"].astype(float)),
            upper=list(frame.loc[frame["complete"], "high"].astype(float)),
        )
    ]
    title, note = f"{label} by month with 95% interval", ""
    if not complete[-1]:
        last = frame.iloc[-1]
        series.append(Series("So far", points[-2:], css="series-partial"))
        title += f"; {last['period']} is partial"
        note = (
            f"{last['period']} is under way ({last['n']} answers so far): drawn dashed, "
            "without an interval, until the month is complete."
        )
    ticks = [(float(i), str(period)) for i, period in enumerate(frame["period"])]
    chart = line_chart(
        series,
        title=title,
        ticks=ticks[:: max(1, len(ticks) // 6)],
        y_range=(-100.0 if kind == "nps" else 0.0, 100.0),
    )
    return SurveyChart(label, chart, note)


def calibration_chart(stored: list[dict], day: dt.date) -> Markup:
    """Predicted against observed churn: from the model's held-out metrics when it stored them,
    else from this book (scores 90 days ago against who churned since)."""
    if stored:
        points = [(float(row["predicted"]), float(row["observed"])) for row in stored]
        source = "held-out data"
    else:
        points = [(b.predicted, b.observed) for b in queries.live_calibration(day)]
        source = "this book, scores of 90 days ago"
    return line_chart(
        [
            Series("Observed", points),
            Series("Perfect", [(0.0, 0.0), (1.0, 1.0)], css="series-b"),
        ],
        title=f"Calibration: predicted against observed churn ({source})",
        ticks=[(x / 4, f"{x * 25}%") for x in range(5)],
        y_range=(0, 1),
        y_format=lambda v: f"{v:.0%}",
    )
