"""The survey results page compares complete months only: the month under way is labelled
partial and left out of the significance test."""

from __future__ import annotations

import datetime as dt

import pytest

from cs_platform import clock
from surveys.results import survey_results
from tests.factories import AccountFactory, SurveyFactory, SurveyResponseFactory


@pytest.fixture
def admin_client(make_user, login):
    return login(make_user("admin"))


def month_start(months_ago: int) -> dt.datetime:
    """Midnight on the first day of the month `months_ago` months before this one."""
    today = clock.today()
    index = today.year * 12 + today.month - 1 - months_ago
    return dt.datetime(index // 12, index % 12 + 1, 1)


def answer(survey, when: dt.datetime, scores: list[int]) -> None:
    account = AccountFactory()
    for score in scores:
        SurveyResponseFactory(survey=survey, account=account, score=score, responded_at=when)


def label(when: dt.datetime) -> str:
    return f"{when:%Y-%m}"


def test_the_headline_compares_the_last_two_complete_months_not_the_one_under_way(admin_client):
    survey = SurveyFactory()
    two_ago, last = month_start(2), month_start(1)
    answer(survey, two_ago + dt.timedelta(days=3), [10] * 60 + [7] * 20 + [3] * 20)
    answer(survey, last + dt.timedelta(days=3), [10] * 50 + [3] * 45)
    answer(survey, clock.utcnow().replace(day=1, hour=0, minute=1), [3, 3, 3, 10])
    results = survey_results(survey)
    assert (results.last_change.before, results.last_change.after) == (label(two_ago), label(last))
    assert results.last_change.comparison.after.n == 95
    page = admin_client.get(f"/surveys/{survey.id}").text
    assert f"{label(last)} vs {label(two_ago)}" in page
    assert "partial: to date" in page and "complete months only" in page


def test_without_answers_this_month_the_last_month_is_compared_and_nothing_is_partial(
    admin_client,
):
    survey = SurveyFactory()
    two_ago, last = month_start(2), month_start(1)
    answer(survey, two_ago + dt.timedelta(days=3), [10, 10, 3])
    answer(survey, last + dt.timedelta(days=3), [10, 3, 3])
    page = admin_client.get(f"/surveys/{survey.id}").text
    assert f"{label(last)} vs {label(two_ago)}" in page
    assert "partial" not in page


def test_segments_read_smb_mid_market_and_enterprise(admin_client):
    survey = SurveyFactory()
    for segment in ("smb", "mid_market", "enterprise"):
        SurveyResponseFactory(survey=survey, account=AccountFactory(segment=segment))
    page = admin_client.get(f"/surveys/{survey.id}").text
    assert all(name in page for name in ("<td>SMB</td>", "<td>Mid-market</td>", "<td>Enterprise"))
