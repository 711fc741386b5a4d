"""Scorecard settings as stored by the admin page (one row; defaults until first saved), and the
learned model's band thresholds from the configuration. Light: no model libraries, so pages can
import it."""

from __future__ import annotations

from typing import TypedDict

from flask import current_app

from cs_platform.audit import record_audit
from cs_platform.extensions import db
from cs_platform.models import User
from scoring.models import ScorecardSettings
from scoring.scorecard import Scorecard

SETTINGS_ID = 1


def load_scorecard() -> Scorecard:
    """The saved scorecard, or the built-in default."""
    row = db.session.get(ScorecardSettings, SETTINGS_ID)
    if row is None:
        return Scorecard()
    return Scorecard.from_settings(
        {"measures": row.measures, "green_at": row.green_at, "red_below": row.red_below}
    )


class ModelBands(TypedDict):
    """The learned model's band thresholds, as HealthModel.score and BandEdges take them."""

    green_at: float
    red_below: float


def model_bands() -> ModelBands:
    """The learned model's band thresholds (configuration, not the scorecard's)."""
    config = current_app.config
    return {
        "green_at": float(config["HEALTH_MODEL_GREEN_AT"]),
        "red_below": float(config["HEALTH_MODEL_RED_BELOW"]),
    }


def save_scorecard(scorecard: Scorecard, author: User | None) -> None:
    """Store `scorecard` (already validated by its constructor) and audit the change, old and
    new side by side, since it moves every account's score; flushes, the caller commits."""
    details = {"old": summary(load_scorecard()), "new": summary(scorecard)}
    record_audit("scorecard.updated", "scorecard", details, actor=author)
    row = db.session.get(ScorecardSettings, SETTINGS_ID) or ScorecardSettings(id=SETTINGS_ID)
    settings = scorecard.to_settings()
    row.measures = settings["measures"]
    row.green_at = scorecard.green_at
    row.red_below = scorecard.red_below
    row.updated_by_id = author.id if author else None
    db.session.add(row)
    db.session.flush()


def summary(scorecard: Scorecard) -> dict:
    """The weights and thresholds of a scorecard in a few lines, for the audit log."""
    return {
        "weights": {m.feature: m.weight for m in scorecard.measures},
        "thresholds": {m.feature: [m.bad, m.good] for m in scorecard.measures},
        "green_at": scorecard.green_at,
        "red_below": scorecard.red_below,
    }
