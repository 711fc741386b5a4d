"""NPS, CSAT and CES metrics: values, intervals, significance and set-wise breakdowns."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from surveys.survey_metrics import (
    band,
    breakdown,
    compare,
    is_detractor,
    last_complete_change,
    summarise,
    trend,
)


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
    months = trend(frame, "csat", "month", as_of=dt.date(2026, 5, 1))
    assert list(months["period"]) == ["2026-01", "2026-02", "2026-04"]
    assert list(months["value"]) == [50.0, 100.0, 100.0]
    quarters = trend(frame, "csat", "quarter", as_of=dt.date(2026, 5, 1))
    assert list(quarters["n"]) == [3, 1]


def test_breakdown_of_no_answers_is_an_empty_table():
    table = breakdown(pd.DataFrame({"score": [], "plan": []}), "ces", "plan")
    assert table.empty and "value" in table.columns


def nps_answers(months: dict[str, list[int]]) -> pd.DataFrame:
    """Answers on the 10th of each month: {"2026-03": [10, 9, 3], ...}."""
    rows = [(score, f"{month}-10") for month, scores in months.items() for score in scores]
    frame = pd.DataFrame(rows, columns=["score", "responded_at"])
    return frame.assign(responded_at=pd.to_datetime(frame["responded_at"]))


def test_trend_marks_the_month_under_way_as_not_complete():
    frame = nps_answers({"2026-03": [10], "2026-04": [9], "2026-05": [3]})
    months = trend(frame, "nps", "month", as_of=dt.date(2026, 5, 17))
    assert list(months["complete"]) == [True, True, False]
    weeks = trend(frame, "nps", "week", as_of=dt.date(2026, 5, 17))
    assert list(weeks["complete"]) == [True, True, True]  # 10 May 2026 is in a week that ended


def test_a_month_is_complete_from_the_day_after_its_last_day():
    frame = nps_answers({"2026-05": [3]})
    assert not trend(frame, "nps", as_of=dt.date(2026, 5, 31))["complete"].iloc[0]
    assert trend(frame, "nps", as_of=dt.date(2026, 6, 1))["complete"].iloc[0]


def test_the_change_skips_a_partial_month_and_compares_the_last_two_complete_ones():
    frame = nps_answers(
        {
            "2026-03": [10] * 60 + [7] * 20 + [3] * 20,
            "2026-04": [10] * 50 + [3] * 45,
            "2026-05": [3, 3, 3, 10],
        }
    )
    change = last_complete_change(trend(frame, "nps", as_of=dt.date(2026, 5, 17)), "nps")
    assert (change.before, change.after) == ("2026-03", "2026-04")
    assert change.comparison.after.n == 95  # not the 4 answers of May so far


def test_the_change_compares_the_last_month_once_it_is_complete():
    frame = nps_answers({"2026-04": [10] * 50 + [3] * 45, "2026-05": [3, 3, 3, 10]})
    change = last_complete_change(trend(frame, "nps", as_of=dt.date(2026, 6, 1)), "nps")
    assert (change.before, change.after) == ("2026-04", "2026-05")
    assert change.comparison.difference == pytest.approx(-50 - 100 * 5 / 95)


def test_there_is_no_change_without_two_complete_months():
    frame = nps_answers({"2026-04": [10] * 50, "2026-05": [3, 3, 3, 10]})
    assert last_complete_change(trend(frame, "nps", as_of=dt.date(2026, 5, 17)), "nps") is None
