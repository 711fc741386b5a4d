"""Driver sentences and the rules that keep a driver from contradicting its lever."""

from __future__ import annotations

import pandas as pd

from scoring.explain import MIN_EFFECT, agrees, change_sentence, sentence, top_drivers
from scoring.features import LEVER_DIRECTIONS


def test_driver_sentences_read_like_a_csm_would_say_them():
    assert sentence("active_users_change_30d", -0.45) == "Active users down 45% in 30 days"
    assert sentence("detractors_90d", 2.0) == "2 detractors this quarter"
    assert sentence("open_tickets", 1.0) == "1 open ticket"
    assert sentence("plan", "mid_market") == "Plan: mid market"


def test_a_missing_value_reads_as_plain_english_not_as_a_column_name():
    assert sentence("nps_latest", None) == "No NPS answer in 180 days"
    assert sentence("csat_latest", float("nan")) == "No CSAT answer in 180 days"
    assert sentence("made_up_feature", None) == "Made up feature: not known yet"


def test_a_change_of_nothing_reads_as_steady_not_as_up_zero():
    assert sentence("nps_trend", 0.02) == "NPS answers unchanged on the quarter before"
    assert sentence("nps_trend", -2.5) == "NPS answers down 2.5 points on the quarter before"
    assert sentence("active_users_change_30d", 0.001) == "Active users steady over 30 days"


def test_a_falling_lever_that_raises_risk_agrees_and_one_that_lowers_it_does_not():
    assert agrees("nps_trend", -1.2, 0.3, LEVER_DIRECTIONS)
    assert not agrees("nps_trend", -1.2, -0.3, LEVER_DIRECTIONS)  # "down ... lowers risk"
    assert agrees("active_users_change_30d", 0.2, -0.3, LEVER_DIRECTIONS)
    assert not agrees("active_users_change_30d", 0.2, 0.3, LEVER_DIRECTIONS)  # "up ... raises"


def test_a_steady_change_is_never_a_reason():
    assert not agrees("nps_trend", 0.0, 0.3, LEVER_DIRECTIONS)


def test_levels_and_levers_without_a_known_direction_are_not_second_guessed():
    assert agrees("open_tickets", 3.0, -0.2, LEVER_DIRECTIONS)
    assert agrees("nps_trend", -1.0, -0.2, {})
    assert agrees("nps_trend", None, 0.2, LEVER_DIRECTIONS)


def test_top_drivers_leave_out_contradictions_and_drivers_without_a_real_effect():
    contributions = pd.DataFrame(
        {"nps_trend": [-0.8], "open_tickets": [0.6], "seat_utilisation": [MIN_EFFECT / 2]}
    )
    raw = pd.DataFrame({"nps_trend": [-1.2], "open_tickets": [4.0], "seat_utilisation": [0.5]})
    [drivers] = top_drivers(contributions, raw, 3, directions=LEVER_DIRECTIONS)
    assert [d["feature"] for d in drivers] == ["open_tickets"]
    assert drivers[0]["sentence"] == "4 open tickets"


def test_a_change_reads_as_what_it_is_now_and_what_it_was():
    assert change_sentence("open_tickets", 3.0, 7.0) == "7 open tickets (was 3)"
    assert change_sentence("seat_utilisation", 0.7, 0.45) == "45% of seats in use (was 70%)"
    assert change_sentence("nps_latest", None, 4.0) == "Latest NPS answer 4 (was none)"
