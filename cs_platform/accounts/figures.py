"""The account page's charts, built from its read models with `cs_platform.charts`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from markupsafe import Markup

from cs_platform.charts import Band, Marker, Series, line_chart
from scoring.models import ChurnRisk
from scoring.services import load_scorecard, model_bands

DAYS_PER_MONTH = 30.4375


def score_bands(method: str) -> list[Band]:
    """The health bands as the scoring run applies them to scores of `method`: the learned
    model's configured thresholds, or the scorecard's (admin-set, else defaults)."""
    if method == "model":
        bands = model_bands()
        green, red = bands["green_at"], bands["red_below"]
    else:
        scorecard = load_scorecard()
        green, red = scorecard.green_at, scorecard.red_below
    return [
        Band(0, red, f"Red < {red:.0f}", "band-red"),
        Band(red, green, f"Yellow < {green:.0f}", "band-yellow"),
        Band(green, 100, f"Green ≥ {green:.0f}", "band-green"),
    ]


def date_ticks(first: dt.date, last: dt.date, count: int = 6) -> list[tuple[float, str]]:
    """Evenly spaced x ticks between two dates, labelled "07 Mar" (or "Mar 2026" past a year)."""
    span = max((last - first).days, 1)
    label = "%d %b" if span <= 366 else "%b %Y"
    days = sorted({round(span * i / (count - 1)) for i in range(count)})
    return [
        (float((first + dt.timedelta(d)).toordinal()), (first + dt.timedelta(d)).strftime(label))
        for d in days
    ]


def health_chart(points: Sequence[tuple[dt.date, float]], method: str) -> Markup:
    """The (day, score) history over the bands of `method` (the latest score's)."""
    ticks = date_ticks(points[0][0], points[-1][0]) if points else []
    return line_chart(
        [Series("Health score", [(float(day.toordinal()), score) for day, score in points])],
        title="Health score history with the red, yellow and green bands",
        ticks=ticks,
        bands=score_bands(method),
        y_range=(0, 100),
    )


def survival_chart(risk: ChurnRisk | None, renewal: dt.date | None, today: dt.date) -> Markup:
    """P(churned by then) over the coming months, rising with risk, the renewal date marked."""
    curve = [(float(months), 1.0 - float(s)) for months, s in (risk.survival_curve if risk else [])]
    markers = []
    if renewal is not None and curve and renewal >= today:
        months = (renewal - today).days / DAYS_PER_MONTH
        markers.append(Marker(months, f"Renewal {renewal.isoformat()}"))
    ticks = [(x, f"{x:.0f} mo") for x, _ in curve[:: max(1, len(curve) // 6)]]
    return line_chart(
        [Series("P(churned by then)", curve, css="series-c")],
        title="Churn risk: probability the account has churned by each month from now",
        ticks=ticks,
        markers=markers,
        y_range=(0, min(1.0, max(0.1, *(p for _, p in curve))) if curve else 1.0),
        y_format=lambda v: f"{v:.0%}",
    )


def usage_charts(series: Sequence[tuple[dt.date, int]], seats: int) -> list[Markup]:
    """Daily active users, and seat utilisation (% of licensed seats) when seats are known."""
    active = [(float(day.toordinal()), float(users)) for day, users in series]
    ticks = date_ticks(series[0][0], series[-1][0]) if series else []
    users = line_chart(
        [Series("Active users", active)], title="Daily active users", ticks=ticks, height=170
    )
    charts = [users]
    if seats and active:
        utilisation = [(x, 100.0 * y / seats) for x, y in active]
        top = max(100.0, *(y for _, y in utilisation))
        charts.append(
            line_chart(
                [Series("Seat utilisation", utilisation, css="series-c")],
                title=f"Seat utilisation: daily active users as % of {seats} seats",
                ticks=ticks,
                y_range=(0, top),
                y_format=lambda v: f"{v:.0f}%",
                height=150,
            )
        )
    return charts
