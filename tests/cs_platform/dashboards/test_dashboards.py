"""The dashboards page: book by band, band trend, survey metrics, model health, task outcomes."""

from __future__ import annotations

import datetime as dt

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
    assert "Accounts per band over the last 12 months" in page


def test_survey_metrics_are_charted_by_month_with_intervals(csm_client):
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
            responded_at=utcnow() - dt.timedelta(days=3),
        )
        for score in (10, 9, 3, 8)
    )
    db.session.commit()
    page = csm_client.get("/dashboards").text
    assert "NPS by month with 95% interval" in page
    assert 'class="interval' in page
    assert "CSAT (% satisfied)" not in page  # no CSAT answers, no CSAT chart


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
