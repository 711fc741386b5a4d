"""NPS, CSAT and CES metrics: values, intervals, significance and set-wise breakdowns."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from surveys.metrics import band, breakdown, compare, is_detractor, summarise, trend


def test_nps_is_percent_promoters_minus_percent_detractors():
    summary = summarise("nps", [10, 9, 9, 8, 7, 6, 0, 10, 3, 5])
    assert (summary.promoters, summary.passives, summary.detractors) == (4, 2, 4)
    assert summary.value == pytest.approx(0.0)
    assert summary.mean_score == pytest.approx(6.7)


def test_nps_margin_of_error_follows_the_multinomial_variance():
    scores = [10] * 50 + [8] * 30 + [2] * 20
    summary = summarise("nps", scores)
    p, d = 0.5, 0.2
    expected = 1.959963984540054 * 100 * math.sqrt((p + d - (p - d) ** 2) / 100)
    assert summary.value == pytest.approx(30.0)
    assert summary.margin == pytest.approx(expected)
    assert summary.low < 30 < summary.high


def test_csat_counts_four_and_five_as_satisfied():
    summary = summarise("csat", [5, 4, 3, 2, 1, 5, 5, 4])
    assert summary.value == pytest.approx(62.5)
    assert band("csat", 3) == "passive"
    assert is_detractor("csat", 2) and not is_detractor("csat", 3)


def test_ces_reports_share_of_easy_answers_and_the_mean():
    summary = summarise("ces", [7, 6, 5, 4, 1])
    assert summary.value == pytest.approx(60.0)
    assert summary.mean_score == pytest.approx(4.6)
    assert is_detractor("ces", 3) and not is_detractor("ces", 4)


def test_an_empty_set_has_no_value_rather_than_zero():
    summary = summarise("nps", [])
    assert summary.n == 0 and summary.value is None and summary.margin is None


def test_interval_never_leaves_the_scale():
    summary = summarise("nps", [10, 10, 9])
    assert summary.value == 100 and summary.high == 100
    assert summarise("csat", [1]).low == 0


def test_scores_outside_the_range_are_refused():
    with pytest.raises(ValueError, match="outside"):
        band("nps", 11)
    with pytest.raises(ValueError, match="unknown survey kind"):
        summarise("stars", [1])


def test_a_large_rise_in_nps_is_significant_and_noise_is_not():
    before = [10] * 30 + [8] * 30 + [3] * 40
    after = [10] * 60 + [8] * 25 + [3] * 15
    rise = compare("nps", before, after)
    assert rise.difference == pytest.approx(55.0)
    assert rise.significant() and rise.p_value < 0.001
    noise = compare("nps", [10, 8, 3, 9], [10, 3, 8, 8])
    assert not noise.significant()


def test_comparison_with_an_empty_period_has_no_p_value():
    result = compare("csat", [], [5, 4])
    assert result.p_value is None and not result.significant()


def test_breakdown_matches_the_scalar_summary_per_group():
    frame = pd.DataFrame(
        {
            "score": [10, 9, 3, 7, 10, 0, 2, 8],
            "segment": ["smb"] * 4 + ["enterprise"] * 4,
        }
    )
    table = breakdown(frame, "nps", "segment").set_index("segment")
    smb = summarise("nps", [10, 9, 3, 7])
    assert table.loc["smb", "value"] == pytest.approx(smb.value)
    assert table.loc["smb", "low"] == pytest.approx(smb.low)
    assert table.loc["enterprise", "n"] == 4
    assert table.loc["enterprise", "detractors"] == 2


def test_trend_groups_answers_by_month_and_quarter():
    frame = pd.DataFrame(
        {
            "score": [5, 1, 4, 5],
            "responded_at": pd.to_datetime(
                ["2026-01-05", "2026-01-20", "2026-02-03", "2026-04-01"]
            ),
        }
    )
    months = trend(frame, "csat", "month")
    assert list(months["period"]) == ["2026-01", "2026-02", "2026-04"]
    assert list(months["value"]) == [50.0, 100.0, 100.0]
    quarters = trend(frame, "csat", "quarter")
    assert list(quarters["n"]) == [3, 1]


def test_breakdown_of_no_answers_is_an_empty_table():
    table = breakdown(pd.DataFrame({"score": [], "plan": []}), "ces", "plan")
    assert table.empty and "value" in table.columns
