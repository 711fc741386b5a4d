"""The health model against the demo book, whose hidden hazard model is known."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import select

from cs_platform.demo.models import DemoRun
from cs_platform.demo.service import seed_demo
from cs_platform.extensions import db
from scoring.features import model_inputs
from scoring.registry import load_active
from scoring.runs import train_models
from scoring.training import build_training_data, split_by_time

AS_OF = dt.date(2026, 6, 1)
# The demo's hidden drivers and the features through which they show.
DRIVER_FEATURES = {
    "usage_decline": {"active_users_change_30d", "active_users", "features_used"},
    "low_seat_utilisation": {"seat_utilisation"},
    "detractor": {"detractors_90d", "detractor_share", "nps_latest", "nps_trend"},
    "ticket_backlog": {"open_tickets", "high_priority_open"},
    "renewal_near": {"days_to_renewal"},
}


def true_drivers_among(features: list[str]) -> set[str]:
    return {driver for driver, shown in DRIVER_FEATURES.items() if shown & set(features)}


@pytest.fixture
def demo_model(app):
    seed_demo(accounts=800, seed=7, force=True, as_of=AS_OF)
    train_models(AS_OF, months=12, rounds=100, min_events=10)
    db.session.commit()
    return load_active("health")


def test_demo_health_model_beats_chance_on_a_held_out_period_and_finds_the_true_drivers(
    demo_model,
):
    model, version = demo_model
    hazard = db.session.scalar(select(DemoRun.hazard_model))
    assert set(DRIVER_FEATURES) <= set(hazard["coefficients"])
    assert version.metrics["auc"] > 0.65  # held-out: the latest snapshots, never trained on
    assert len(true_drivers_among(list(model.importance())[:5])) >= 2

    _, held_out = split_by_time(build_training_data(AS_OF, 12).health)
    scored = model.score(model_inputs(held_out), green_at=70, red_below=40)
    riskiest = scored.nlargest(len(scored) // 10, "churn_probability")
    reasons = Counter(
        driver["feature"]
        for drivers in riskiest["drivers"]
        for driver in drivers
        if driver["contribution"] > 0
    )
    common = [feature for feature, _ in reasons.most_common(4)]
    assert len(true_drivers_among(common)) >= 2, common
