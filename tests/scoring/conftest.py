"""A small synthetic book for the scoring tests: accounts whose usage falls, tickets pile up and
NPS sours before they churn, written set-wise straight into the tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pytest
from sqlalchemy import insert

from cs_platform.extensions import db
from cs_platform.models import Account, Contact
from integrations.models import SupportTicket, UsageDaily
from surveys.models import Survey, SurveyResponse
from tests.cs_platform.webhooks.conftest import receiver, subscribe  # noqa: F401 - fixtures

AS_OF = dt.date(2026, 6, 1)
HISTORY_DAYS = 480
USAGE_EVERY_DAYS = 3


def _accounts(rng: np.random.Generator, count: int, churn_share: float) -> list[dict]:
    rows = []
    for index in range(count):
        start = AS_OF - dt.timedelta(days=int(rng.integers(200, HISTORY_DAYS)))
        churns = rng.random() < churn_share
        churned = AS_OF - dt.timedelta(days=int(rng.integers(5, 420))) if churns else None
        if churned is not None and churned <= start + dt.timedelta(days=60):
            churned = None
        rows.append(
            {
                "id": index + 1,
                "name": f"Synthetic {index}",
                "segment": ("smb", "mid_market", "enterprise")[index % 3],
                "plan": ("starter", "growth", "enterprise")[index % 3],
                "arr": 10000 + 500 * (index % 40),
                "seats": 20 + index % 30,
                "contract_start": start,
                "renewal_date": start + dt.timedelta(days=365 * 2),
                "lifecycle_stage": "churned" if churned else "mature",
                "churned_at": churned,
                "created_at": dt.datetime.combine(start, dt.time()),
            }
        )
    return rows


def _decline(day: dt.date, churned: dt.date | None) -> float:
    """0 far from churn, rising to 1 at churn over the last 75 days."""
    if churned is None:
        return 0.0
    days_left = (churned - day).days
    return float(np.clip(1 - days_left / 75, 0, 1)) if days_left >= 0 else 1.0


def _activity(rng: np.random.Generator, accounts: list[dict]) -> dict[str, list[dict]]:
    usage, tickets, contacts, answers = [], [], [], []
    for account in accounts:
        end = account["churned_at"] or AS_OF
        base = rng.uniform(0.4, 0.9) * account["seats"]
        contact_id = account["id"]
        contacts.append(
            {
                "id": contact_id,
                "account_id": account["id"],
                "email": f"c{contact_id}@example.com",
                "name": f"Contact {contact_id}",
                "created_at": account["created_at"],
            }
        )
        day = account["contract_start"]
        while day < end:
            decline = _decline(day, account["churned_at"])
            usage.append(
                {
                    "account_id": account["id"],
                    "day": day,
                    "active_users": int(base * (1 - 0.8 * decline) * rng.uniform(0.85, 1.15)),
                    "events": 100,
                    "features_used": int(6 - 4 * decline),
                }
            )
            if rng.random() < 0.04 + 0.3 * decline:
                created = dt.datetime.combine(day, dt.time(10))
                tickets.append(
                    {
                        "account_id": account["id"],
                        "source": "test",
                        "external_id": f"{account['id']}-{day}",
                        "status": "open",
                        "priority": "high" if decline > 0.5 else "normal",
                        "created_at": created,
                        "updated_at": created,
                        "solved_at": None if decline > 0.3 else created + dt.timedelta(days=2),
                    }
                )
            if rng.random() < 0.03:
                score = int(np.clip(rng.normal(8.5 - 6 * decline, 1), 0, 10))
                answers.append(
                    {
                        "survey_id": 1,
                        "account_id": account["id"],
                        "contact_id": contact_id,
                        "kind": "nps",
                        "score": score,
                        "responded_at": dt.datetime.combine(day, dt.time(9)),
                    }
                )
            day += dt.timedelta(days=USAGE_EVERY_DAYS)
    return {"usage": usage, "tickets": tickets, "contacts": contacts, "answers": answers}


def write_book(accounts: int = 160, seed: int = 3, churn_share: float = 0.45) -> dt.date:
    """Write a synthetic book and return the day it ends on."""
    rng = np.random.default_rng(seed)
    account_rows = _accounts(rng, accounts, churn_share)
    activity = _activity(rng, account_rows)
    db.session.execute(insert(Account), account_rows)
    db.session.execute(insert(Contact), activity["contacts"])
    db.session.execute(insert(Survey), [{"id": 1, "name": "NPS", "kind": "nps", "texts": {}}])
    db.session.execute(insert(UsageDaily), activity["usage"])
    if activity["tickets"]:
        db.session.execute(insert(SupportTicket), activity["tickets"])
    if activity["answers"]:
        db.session.execute(insert(SurveyResponse), activity["answers"])
    db.session.commit()
    return AS_OF


@pytest.fixture
def synthetic_book(app) -> Callable[..., dt.date]:
    """Write a synthetic book (accounts, seed, churn_share) and return its last day."""
    return write_book
