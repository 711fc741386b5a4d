"""The hidden churn model of the demo book: which signals raise an account's weekly hazard.

An account alive in week t churns that week with probability ``1 - exp(-h)``, where

    h = baseline_weekly * exp(sum of coefficient * driver value)

and every driver value is computed from what the demo data shows up to that week (usage, tickets,
survey answers, the contract). The model is stored with each demo run (`DemoRun.hazard_model`) and
each account's true hazard in `DemoAccountTruth`, so the scoring models can be checked against the
truth. Plain numpy, no Flask: every function takes arrays (one value per account) and returns one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

USAGE_WINDOW_WEEKS = 4
TARGET_UTILISATION = 0.5
DETRACTOR_MAX_SCORE = 6
DETRACTOR_MEMORY_WEEKS = 13
RENEWAL_WINDOW_DAYS = 60

DRIVERS: dict[str, str] = {
    "usage_decline": (
        f"Relative fall of weekly active users over the last {USAGE_WINDOW_WEEKS} weeks against "
        f"the {USAGE_WINDOW_WEEKS} before: 0 when flat or growing, 1 when usage stopped."
    ),
    "low_seat_utilisation": (
        f"Shortfall of active users per seat below {TARGET_UTILISATION:.0%}, scaled to 0..1: "
        f"0 at {TARGET_UTILISATION:.0%} or more, 1 when nobody uses the product."
    ),
    "detractor": (
        f"1 when a contact answered NPS 0-{DETRACTOR_MAX_SCORE} in the last "
        f"{DETRACTOR_MEMORY_WEEKS} weeks, else 0."
    ),
    "ticket_backlog": "log(1 + open tickets + open high/urgent tickets) at the end of the week.",
    "renewal_near": f"1 in the {RENEWAL_WINDOW_DAYS} days before the contract renews, else 0.",
    "segment_smb": "1 for small-business accounts (mid-market is the reference), else 0.",
    "segment_enterprise": "1 for enterprise accounts (mid-market is the reference), else 0.",
}


@dataclass(frozen=True)
class HazardModel:
    """Weekly proportional hazard: a baseline and one log-hazard coefficient per driver."""

    baseline_weekly: float
    coefficients: Mapping[str, float] = field(default_factory=dict)

    def contributions(self, drivers: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Log-hazard added by each driver: coefficient times value."""
        return {name: coef * np.asarray(drivers[name]) for name, coef in self.coefficients.items()}

    def hazard(self, drivers: Mapping[str, np.ndarray]) -> np.ndarray:
        """Weekly hazard of each account."""
        log_relative = sum(self.contributions(drivers).values())
        return self.baseline_weekly * np.exp(log_relative)

    def to_json(self) -> dict:
        """The model as stored in `DemoRun.hazard_model`."""
        return {
            "form": "weekly hazard = baseline_weekly_hazard * exp(sum(coefficient * driver))",
            "time_unit": "week",
            "baseline_weekly_hazard": self.baseline_weekly,
            "coefficients": dict(self.coefficients),
            "drivers": {name: DRIVERS[name] for name in self.coefficients},
        }


# Levers dominate: a perfect model of this hazard ranks 90-day churn at an AUC of about 0.85,
# like real B2B books; renewal timing and segment only nudge it. About 15 % churn a year.
DEFAULT_MODEL = HazardModel(
    baseline_weekly=0.0001,
    coefficients={
        "usage_decline": 3.0,
        "low_seat_utilisation": 4.0,
        "detractor": 1.2,
        "ticket_backlog": 1.2,
        "renewal_near": 0.6,
        "segment_smb": 0.3,
        "segment_enterprise": -0.3,
    },
)
# The drivers a CSM can act on that a detractor's comment can be about (see `likely_problem`).
PROBLEMS = ("usage_decline", "low_seat_utilisation", "ticket_backlog")


def usage_decline(recent: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Relative fall from `previous` to `recent` mean active users, clipped to 0..1."""
    previous = np.asarray(previous, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        fall = np.where(previous > 0, 1.0 - np.asarray(recent) / previous, 0.0)
    return np.clip(fall, 0.0, 1.0)


def low_seat_utilisation(active_users: np.ndarray, seats: np.ndarray) -> np.ndarray:
    """Shortfall of active users per seat below the target, scaled to 0..1."""
    utilisation = np.asarray(active_users, dtype=float) / np.maximum(seats, 1)
    return np.clip((TARGET_UTILISATION - utilisation) / TARGET_UTILISATION, 0.0, 1.0)


def detractor(weeks_since_detractor: np.ndarray) -> np.ndarray:
    """1 where the last NPS detractor answer is recent enough (inf weeks: never), else 0."""
    return (np.asarray(weeks_since_detractor) < DETRACTOR_MEMORY_WEEKS).astype(float)


def ticket_backlog(open_tickets: np.ndarray, open_high: np.ndarray) -> np.ndarray:
    """log(1 + open + open high/urgent): each urgent ticket weighs twice."""
    return np.log1p(np.asarray(open_tickets, dtype=float) + np.asarray(open_high, dtype=float))


def renewal_near(days_to_renewal: np.ndarray) -> np.ndarray:
    """1 in the window before a renewal, else 0."""
    days = np.asarray(days_to_renewal)
    return ((days >= 0) & (days <= RENEWAL_WINDOW_DAYS)).astype(float)


def segment_effects(segments: np.ndarray) -> dict[str, np.ndarray]:
    """The segment indicators (mid-market is the reference)."""
    segments = np.asarray(segments)
    return {
        "segment_smb": (segments == "smb").astype(float),
        "segment_enterprise": (segments == "enterprise").astype(float),
    }


def churn_probability(hazard: np.ndarray) -> np.ndarray:
    """Probability of churning within the week at a constant weekly hazard."""
    return -np.expm1(-np.asarray(hazard))


def likely_problem(rng: np.random.Generator, contributions: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per account, the index into PROBLEMS of the one a contact complains about, drawn in
    proportion to how much each raises the hazard; -1 where none raises it."""
    raised = np.column_stack([np.maximum(contributions[name], 0.0) for name in PROBLEMS])
    total = raised.sum(axis=1)
    cumulative = raised.cumsum(axis=1) / np.where(total > 0, total, 1.0)[:, None]
    chosen = (rng.random((len(raised), 1)) >= cumulative).sum(axis=1)
    return np.where(total > 0, np.minimum(chosen, len(PROBLEMS) - 1), -1)


# None as np.where's other choice (its types take no bare None; the result is the same).
MISSING = np.array(None, dtype=object)


def top_drivers(contributions: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per account, the driver with the largest positive contribution (None when none raise it)."""
    names = np.array(list(contributions), dtype=object)
    matrix = np.column_stack([np.asarray(v, dtype=float) for v in contributions.values()])
    best = matrix.argmax(axis=1)
    raised = matrix[np.arange(len(matrix)), best] > 0
    return np.where(raised, names[best], MISSING)
