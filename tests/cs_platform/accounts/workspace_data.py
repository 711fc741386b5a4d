"""Scored accounts for the workspace tests, inserted as the scoring run would write them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cs_platform import clock
from cs_platform.extensions import db
from cs_platform.models import Account, User
from scoring.models import ChurnRisk, HealthScore
from tests.conftest import PASSWORD
from tests.factories import AccountFactory, ChurnRiskFactory


def band_of(score: float) -> str:
    """The learned model's default bands (HEALTH_MODEL_GREEN_AT 50, HEALTH_MODEL_RED_BELOW 33)."""
    return "red" if score < 33 else "yellow" if score < 50 else "green"


def scored_account(
    name: str,
    *,
    arr: int = 50_000,
    p_churn: float = 0.2,
    score: float = 45.0,
    score_30d_ago: float | None = None,
    owner: User | None = None,
    days: int = 40,
    **account_fields,
) -> Account:
    """An account with `days` daily health scores ending today (moving linearly from
    `score_30d_ago` to `score` over the last 30 days), each with `p_churn` as its 90-day
    probability, and today's churn risk. The default score is yellow: on the default view."""
    account = AccountFactory(name=name, arr=Decimal(arr), owner=owner, **account_fields)
    today = clock.today()
    start = score if score_30d_ago is None else score_30d_ago
    rows = []
    for back in range(days - 1, -1, -1):
        value = start + (score - start) * max(0, 30 - back) / 30
        rows.append(
            HealthScore(
                account_id=account.id,
                scored_on=today - dt.timedelta(days=back),
                score=value,
                band=band_of(value),
                churn_probability=p_churn,
                drivers=[
                    {"feature": "usage", "value": 1, "contribution": 0.5, "sentence": f"{name} d1"},
                    {"feature": "nps", "value": 2, "contribution": 0.3, "sentence": f"{name} d2"},
                    {"feature": "tickets", "value": 3, "contribution": 0.1, "sentence": "third"},
                ],
            )
        )
    db.session.add_all(rows)
    db.session.commit()
    ChurnRiskFactory(account=account, p_churn_before_renewal=p_churn, p_churn_90d=p_churn)
    return account


def latest_risk(account: Account) -> ChurnRisk:
    return db.session.query(ChurnRisk).filter_by(account_id=account.id).one()


def signed_in(app, user: User):
    """A second browser (its own cookies), signed in as `user` through the login form."""
    browser = app.test_client()
    response = browser.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return browser
