"""Driver sentences: a feature's value said the way a CSM would say it. Pure, no Flask, no DB."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

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


# What a missing value means, said plainly (the default: "No <feature> yet").
MISSING: dict[str, str] = {
    "active_users": "No product usage recorded in 30 days",
    "active_users_change_30d": "No usage in the 30 days before to compare with",
    "seat_utilisation": "Seat use unknown (no usage or no seat count)",
    "features_used": "No product usage recorded in 30 days",
    "first_reply_hours_90d": "No solved tickets in 90 days",
    "resolution_hours_90d": "No solved tickets in 90 days",
    "ticket_satisfaction_90d": "No rated tickets in 90 days",
    "nps_latest": "No NPS answer in 180 days",
    "nps_trend": "Too few NPS answers to see a trend",
    "csat_latest": "No CSAT answer in 180 days",
    "ces_latest": "No effort (CES) answer in 180 days",
    "survey_response_rate": "No survey invitations sent in a year",
    "detractor_share": "No contacts on file",
    "days_to_renewal": "No renewal date on file",
}
# Levers whose value itself says "up" or "down": a driver must agree with that word.
SIGNED_CHANGES = ("active_users_change_30d", "nps_trend")
# Below this share of the log-odds (about 5 % of the odds) a driver has no real effect.
MIN_EFFECT = 0.05


def sentence(feature: str, value: object) -> str:
    """One driver as a sentence; categories read "Plan: starter", unknown numbers "Name: 1.5"."""
    label = feature.replace("_", " ")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING.get(feature, f"{label.capitalize()}: not known yet")
    say = SENTENCES.get(feature)
    if say is not None and isinstance(value, int | float | np.number):
        return say(float(value))
    if isinstance(value, float):
        return f"{label.capitalize()}: {value:.3g}"
    return f"{label.capitalize()}: {str(value).replace('_', ' ')}"


def agrees(feature: str, value: object, contribution: float, directions: dict[str, int]) -> bool:
    """False when a driver would contradict its lever's known direction: a signed change that
    raises risk must be a move the bad way ("down" for usage), one that lowers risk the good
    way; a steady value moves nothing."""
    direction = directions.get(feature, 0)
    if feature not in SIGNED_CHANGES or direction == 0 or not isinstance(value, float):
        return True
    return np.sign(value) * direction * np.sign(contribution) > 0


SHARES = ("active_users_change_30d", "seat_utilisation", "ticket_satisfaction_90d",
          "survey_response_rate", "detractor_share")  # fmt: skip


def short_value(feature: str, value: object) -> str:
    """A value as it reads in brackets: "70%", "3", "12.5", or "none"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    if not isinstance(value, int | float | np.number):
        return str(value).replace("_", " ")
    number = float(value)
    if feature in SHARES:
        return f"{number:.0%}"
    return f"{number:.0f}" if abs(number) >= 10 or number == round(number) else f"{number:.1f}"


def change_sentence(feature: str, before: object, after: object) -> str:
    """What a feature is now and what it was: "7 open tickets (was 3)"."""
    return f"{sentence(feature, after)} (was {short_value(feature, before)})"


def top_drivers(
    contributions: pd.DataFrame,
    raw: pd.DataFrame,
    limit: int = 3,
    *,
    directions: dict[str, int] | None = None,
) -> list[list[dict]]:
    """Each row's strongest drivers: `contributions` (rows x input features, log-odds or points
    towards churn) ranked by absolute size, with the raw value and its sentence. Drivers below
    MIN_EFFECT, and any that would contradict a lever's known direction, are left out."""
    directions = directions or {}
    matrix = contributions.to_numpy(float)
    order = np.argsort(-np.abs(matrix), axis=1)
    names = contributions.columns.to_numpy()
    raw_values = raw.reindex(columns=contributions.columns).to_numpy(object)
    result = []
    for row, picks in enumerate(order):
        drivers: list[dict[str, Any]] = []
        for col in picks:
            amount = float(matrix[row, col])
            if abs(amount) < MIN_EFFECT or len(drivers) == limit:
                break
            feature, value = str(names[col]), _plain(raw_values[row, col])
            if agrees(feature, value, amount, directions):
                drivers.append(
                    {
                        "feature": feature,
                        "value": value,
                        "contribution": round(amount, 4),
                        "sentence": sentence(feature, value),
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
