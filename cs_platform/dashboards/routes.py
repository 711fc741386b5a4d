"""Dashboards for CSMs and their managers: book of business, surveys, model health, outcomes."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template
from flask_login import login_required
from markupsafe import Markup

from cs_platform.accounts import risk
from cs_platform.accounts.figures import date_ticks
from cs_platform.charts import Series, bar_chart, line_chart
from cs_platform.dashboards import queries
from cs_platform.tasks.services import OUTCOME_LABELS

bp = Blueprint("dashboards", __name__)
BAND_ORDER = ("red", "yellow", "green")
SURVEY_LABELS = {"nps": "NPS", "csat": "CSAT (% satisfied)", "ces": "CES (% easy)"}


@bp.route("/dashboards")
@login_required
def overview():
    """One page of dashboards: the book by band, its trend, survey metrics, models, outcomes."""
    today = dt.date.today()
    day = risk.reference_day()
    year_ago = dt.datetime.combine(today - dt.timedelta(days=365), dt.time())
    book = queries.book_by_band(today)
    outcomes = queries.risk_task_outcomes(year_ago)
    closed = sum(outcomes.values())
    models = queries.active_models()
    health_model = models.get("health")
    calibration = (health_model.metrics.get("calibration") if health_model else None) or []
    return render_template(
        "dashboards/overview.html",
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
        trend_chart=band_trend_chart(queries.snapshot_days(day)),
        survey_charts=survey_charts(queries.survey_trends(year_ago)),
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


def band_trend_chart(days: list[dt.date]) -> Markup:
    if not days:
        return line_chart([], title="Accounts per band over the last 12 months")
    trend = queries.band_trend(days)
    series = [
        Series(
            band.title(),
            [(float(day.toordinal()), float(trend.get(band, {}).get(day, 0))) for day in days],
            css=f"band-line-{band}",
        )
        for band in BAND_ORDER
    ]
    return line_chart(
        series,
        title="Accounts per band over the last 12 months",
        ticks=date_ticks(days[0], days[-1]),
    )


def survey_charts(trends: dict) -> list[tuple[str, Markup]]:
    """One chart per survey kind: the monthly value with its 95 % interval shaded."""
    charts = []
    for kind, frame in trends.items():
        months = list(range(len(frame)))
        series = Series(
            SURVEY_LABELS[kind],
            list(zip(map(float, months), frame["value"].astype(float), strict=True)),
            lower=list(frame["low"].astype(float)),
            upper=list(frame["high"].astype(float)),
        )
        low = -100.0 if kind == "nps" else 0.0
        ticks = [(float(i), str(period)) for i, period in zip(months, frame["period"], strict=True)]
        charts.append(
            (
                SURVEY_LABELS[kind],
                line_chart(
                    [series],
                    title=f"{SURVEY_LABELS[kind]} by month with 95% interval",
                    ticks=ticks[:: max(1, len(ticks) // 6)],
                    y_range=(low, 100.0),
                ),
            )
        )
    return charts


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
