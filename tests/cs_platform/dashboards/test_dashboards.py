"""The dashboards page: book by band, band trend, survey metrics, model health, task outcomes."""

from __future__ import annotations

import datetime as dt

from cs_platform import clock
from cs_platform.accounts.routes import segment_label
from cs_platform.dashboards.queries import TREND_MONTHS
from cs_platform.dashboards.routes import band_trend_span, months_back
from cs_platform.extensions import db
from cs_platform.models import utcnow
from scoring.models import ModelVersion
from surveys.models import Survey, SurveyResponse
from tests.cs_platform.accounts.workspace_data import scored_account
from tests.factories import AccountFactory, TaskFactory


def test_the_book_is_summed_by_current_band_with_arr(csm_client):
    scored_account("Red A", arr=100_000, score=20)
    scored_account("Red B", arr=50_000, score=30)
    scored_account("Green", arr=70_000, score=90)
    AccountFactory(name="Unscored", arr=5_000)
    page = csm_client.get("/dashboards").text
    assert "4 live accounts · $225,000 ARR" in page
    assert "$150,000" in page  # red ARR
    assert "Not scored" in page
    first_snapshot = clock.today() - dt.timedelta(days=30)
    assert f"Bands since {first_snapshot:%d %b %Y}, the earliest monthly snapshot" in page


def add_nps_answers(scores_by_month: dict[int, list[int]]) -> None:
    """NPS answers on the 2nd of the month `months_ago` before this one (0: this month)."""
    account = AccountFactory()
    survey = Survey(name="NPS", kind="nps")
    db.session.add(survey)
    db.session.flush()
    db.session.add_all(
        SurveyResponse(
            survey_id=survey.id,
            account_id=account.id,
            kind="nps",
            score=score,
            responded_at=months_back(clock.today(), months_ago).replace(day=2),
        )
        for months_ago, scores in scores_by_month.items()
        for score in scores
    )
    db.session.commit()


def test_survey_metrics_are_charted_by_month_with_intervals(csm_client):
    add_nps_answers({2: [10, 9, 3, 8], 1: [10, 6, 9]})
    page = csm_client.get("/dashboards").text
    assert "NPS by month with 95% interval" in page
    assert 'class="interval' in page
    assert "series-partial" not in page and "is under way" not in page
    assert "CSAT (% satisfied)" not in page  # no CSAT answers, no CSAT chart


def test_the_month_under_way_is_drawn_dashed_and_named_partial(csm_client):
    add_nps_answers({1: [10, 9, 9, 8], 0: [3, 3, 3, 10]})
    this_month = f"{clock.today():%Y-%m}"
    page = csm_client.get("/dashboards").text
    assert f"NPS by month with 95% interval; {this_month} is partial" in page
    assert 'class="line series-partial"' in page
    assert f"{this_month} is under way (4 answers so far)" in page


def test_survey_trends_start_on_the_first_of_a_month_twelve_months_back():
    assert months_back(dt.date(2026, 5, 17), 12) == dt.datetime(2025, 5, 1)
    assert months_back(dt.date(2026, 1, 31), 1) == dt.datetime(2025, 12, 1)


def test_the_band_trend_is_titled_by_the_span_it_shows():
    today = dt.date(2026, 5, 17)
    full = [today - dt.timedelta(days=30 * k) for k in range(TREND_MONTHS - 1, -1, -1)]
    assert band_trend_span(full) == "over the last 12 months"
    assert band_trend_span(full[-3:]) == "since 18 Mar 2026, the earliest monthly snapshot"


def test_segments_are_labelled_smb_mid_market_and_enterprise():
    labels = [
        segment_label(value) for value in ("smb", "mid_market", "enterprise", "public_sector")
    ]
    assert labels == ["SMB", "Mid-market", "Enterprise", "Public sector"]


def test_the_risk_list_shows_segments_by_their_labels(csm_client):
    AccountFactory(name="Tiny", segment="smb")
    AccountFactory(name="Middle", segment="mid_market")
    page = csm_client.get("/?view=all").text
    assert ">SMB<" in page and "SMB ·" in page and "Mid-market ·" in page
    assert "Smb" not in page


def test_model_health_shows_the_active_models_metrics(csm_client):
    db.session.add(
        ModelVersion(
            kind="health",
            active=True,
            metrics={
                "auc": 0.8123,
                "brier": 0.09,
                "calibration": [{"predicted": 0.1, "observed": 0.12}],
            },
        )
    )
    db.session.commit()
    page = csm_client.get("/dashboards").text
    assert "0.8123" in page
    assert "held-out data" in page
    assert "No trained model yet" in page  # the survival model


def test_closed_risk_tasks_are_counted_by_outcome_with_the_save_rate(csm_client):
    account = AccountFactory()
    for n, outcome in enumerate(("saved", "saved", "churned", "not_a_risk")):
        TaskFactory(
            account=account, reason=f"r{n}", status="done", outcome=outcome, completed_at=utcnow()
        )
    TaskFactory(
        account=account,
        kind="manual",
        reason="m",
        status="done",
        outcome="saved",
        completed_at=utcnow(),
    )
    page = csm_client.get("/dashboards").text
    assert "50%</span>save rate" in page
    assert "Churned anyway" in page


def test_the_dashboards_need_a_login(client):
    assert client.get("/dashboards").status_code == 302
