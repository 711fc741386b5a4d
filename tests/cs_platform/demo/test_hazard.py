"""The hidden hazard model of the demo book: pure functions over arrays."""

from __future__ import annotations

import numpy as np
import pytest

from cs_platform.demo import hazard
from cs_platform.demo.hazard import DEFAULT_MODEL, DRIVERS

NO_RISK = {name: np.zeros(1) for name in DEFAULT_MODEL.coefficients}


def test_hazard_is_the_baseline_when_no_driver_is_active():
    assert DEFAULT_MODEL.hazard(NO_RISK) == pytest.approx([DEFAULT_MODEL.baseline_weekly])


@pytest.mark.parametrize(
    "driver",
    ["usage_decline", "low_seat_utilisation", "detractor", "ticket_backlog", "renewal_near"],
)
def test_each_risk_driver_raises_the_weekly_hazard(driver):
    raised = NO_RISK | {driver: np.ones(1)}
    assert DEFAULT_MODEL.hazard(raised)[0] > DEFAULT_MODEL.hazard(NO_RISK)[0]


def test_enterprise_accounts_are_less_likely_to_churn_than_small_businesses():
    effects = hazard.segment_effects(np.array(["smb", "mid_market", "enterprise"]))
    rates = DEFAULT_MODEL.hazard(NO_RISK | effects)
    assert rates[0] > rates[1] > rates[2]


def test_usage_decline_is_the_relative_fall_clipped_to_zero_and_one():
    recent = np.array([50.0, 100.0, 120.0, 0.0, 5.0])
    previous = np.array([100.0, 100.0, 100.0, 10.0, 0.0])
    assert hazard.usage_decline(recent, previous) == pytest.approx([0.5, 0.0, 0.0, 1.0, 0.0])


def test_low_seat_utilisation_is_zero_at_the_target_and_one_when_nobody_uses_it():
    shortfall = hazard.low_seat_utilisation(np.array([50, 25, 0, 80]), np.array([100] * 4))
    assert shortfall == pytest.approx([0.0, 0.5, 1.0, 0.0])


def test_a_detractor_answer_counts_for_thirteen_weeks():
    weeks_since = np.array([0, 12, 13, np.inf])
    assert hazard.detractor(weeks_since) == pytest.approx([1, 1, 0, 0])


def test_urgent_tickets_weigh_twice_in_the_backlog():
    backlog = hazard.ticket_backlog(np.array([0, 2, 2]), np.array([0, 0, 2]))
    assert backlog == pytest.approx(np.log1p([0, 2, 4]))


def test_renewal_is_near_in_the_sixty_days_before_it():
    assert hazard.renewal_near(np.array([-1, 0, 60, 61])) == pytest.approx([0, 1, 1, 0])


def test_weekly_churn_probability_follows_from_a_constant_hazard():
    assert hazard.churn_probability(np.array([0.0, np.log(2)])) == pytest.approx([0.0, 0.5])


def test_top_driver_is_the_largest_positive_contribution_or_none():
    contributions = {"a": np.array([0.5, -1.0, 0.0]), "b": np.array([0.2, -0.5, 0.0])}
    assert list(hazard.top_drivers(contributions)) == ["a", None, None]


def test_stored_model_names_the_form_coefficients_and_driver_meanings():
    stored = DEFAULT_MODEL.to_json()
    assert stored["baseline_weekly_hazard"] == DEFAULT_MODEL.baseline_weekly
    assert stored["coefficients"] == dict(DEFAULT_MODEL.coefficients)
    assert stored["drivers"] == {name: DRIVERS[name] for name in DEFAULT_MODEL.coefficients}


def test_a_detractor_complains_about_the_problems_that_raise_the_hazard_in_proportion():
    rng = np.random.default_rng(1)
    raised = {"usage_decline": np.full(4000, 3.0), "low_seat_utilisation": np.full(4000, 1.0)}
    contributions = raised | {"ticket_backlog": np.zeros(4000)}
    problem = hazard.likely_problem(rng, contributions)
    shares = np.bincount(problem, minlength=3) / len(problem)
    assert shares == pytest.approx([0.75, 0.25, 0.0], abs=0.03)


def test_no_problem_is_named_where_no_lever_raises_the_hazard():
    zero = {name: np.array([0.0, -1.0]) for name in hazard.PROBLEMS}
    assert list(hazard.likely_problem(np.random.default_rng(1), zero)) == [-1, -1]
