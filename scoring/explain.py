"""Driver sentences: a feature's value said the way a CSM would say it. Pure, no Flask, no DB."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd


def _change(noun: str, days: int) -> Callable[[float], str]:
    def say(value: float) -> str:
        if round(value, 2) == 0:
            return f"{noun} steady over {days} days"
        direction = "down" if value < 0 else "up"
        return f"{noun} {direction} {abs(value):.0%} in {days} days"

    return say


def _points(noun: str) -> Callable[[float], str]:
    def say(value: float) -> str:
        if round(value, 1) == 0:
            return f"{noun} unchanged on the quarter before"
        direction = "down" if value < 0 else "up"
        return f"{noun} {direction} {abs(value):.1f} points on the quarter before"

    return say


def _count(one: str, many: str, suffix: str = "") -> Callable[[float], str]:
    def say(value: float) -> str:
        number = round(value)
        return f"{number} {one if number == 1 else many}{suffix}"

    return say


# feature -> how its value reads in a sentence
SENTENCES: dict[str, Callable[[float], str]] = {
    "active_users": lambda v: f"{v:.0f} active users a day",
    "active_users_change_30d": _change("Active users", 30),
    "seat_utilisation": lambda v: f"{v:.0%} of seats in use",
    "features_used": lambda v: f"{v:.1f} product features used a day",
    "open_tickets": _count("open ticket", "open tickets"),
    "high_priority_open": _count("high-priority ticket", "high-priority tickets", " open"),
    "tickets_per_seat_90d": lambda v: f"{v:.2f} tickets per seat in 90 days",
    "first_reply_hours_90d": lambda v: f"First replies take {v:.0f} hours",
    "resolution_hours_90d": lambda v: f"Tickets take {v:.0f} hours to resolve",
    "ticket_satisfaction_90d": lambda v: f"{v:.0%} of rated tickets rated good",
    "nps_latest": lambda v: f"Latest NPS answer {v:.0f}",
    "nps_trend": _points("NPS answers"),
    "csat_latest": lambda v: f"Latest CSAT answer {v:.0f}",
    "ces_latest": lambda v: f"Latest effort (CES) answer {v:.0f}",
    "survey_response_rate": lambda v: f"{v:.0%} of survey invitations answered",
    "detractors_90d": _count("detractor", "detractors", " this quarter"),
    "detractor_share": lambda v: f"{v:.0%} of contacts are detractors",
    "arr": lambda v: f"ARR {v:,.0f}",
    "seats": _count("seat", "seats"),
    "tenure_months": lambda v: f"Customer for {v:.0f} months",
    "days_to_renewal": lambda v: f"Renewal in {v:.0f} days",
}


def sentence(feature: str, value: object) -> str:
    """One driver as a sentence; categories read "plan: starter", unknown numbers "name: 1.5"."""
    label = feature.replace("_", " ")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"No {label} data"
    say = SENTENCES.get(feature)
    if say is not None and isinstance(value, int | float | np.number):
        return say(float(value))
    if isinstance(value, float):
        return f"{label.capitalize()}: {value:.3g}"
    return f"{label.capitalize()}: {value}"


def top_drivers(contributions: pd.DataFrame, raw: pd.DataFrame, limit: int = 3) -> list[list[dict]]:
    """Each row's strongest drivers: `contributions` (rows x input features, log-odds or points
    towards churn) ranked by absolute size, with the raw value and its sentence."""
    matrix = contributions.to_numpy(float)
    order = np.argsort(-np.abs(matrix), axis=1)[:, :limit]
    names = contributions.columns.to_numpy()
    raw_values = raw.reindex(columns=contributions.columns).to_numpy(object)
    rows = np.arange(len(matrix))[:, None]
    picked_values = raw_values[rows, order].tolist()
    picked_contributions = np.round(matrix[rows, order], 4).tolist()
    picked_names = names[order].tolist()
    result = []
    for features, values, amounts in zip(
        picked_names, picked_values, picked_contributions, strict=True
    ):
        drivers = []
        for feature, raw_value, amount in zip(features, values, amounts, strict=True):
            value = _plain(raw_value)
            drivers.append(
                {
                    "feature": str(feature),
                    "value": value,
                    "contribution": amount,
                    "sentence": sentence(str(feature), value),
                }
            )
        result.append(drivers)
    return result


def _plain(value: object) -> object:
    """A JSON-friendly value: numpy numbers become floats, missing becomes None."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.number | int | float) and not isinstance(value, bool):
        number = float(value)
        return None if math.isnan(number) else round(number, 4)
    return str(value)
