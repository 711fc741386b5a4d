"""factory_boy factories of realistic rows; they commit, so the browser tests' server sees them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from factory.alchemy import SQLAlchemyModelFactory

from cs_platform import clock
from cs_platform.extensions import db
from cs_platform.models import (
    Account,
    AuditEntry,
    Contact,
    ExternalId,
    Task,
    TimelineEntry,
    utcnow,
)
from cs_platform.tasks.models import Playbook
from integrations.models import SupportTicket
from scoring.models import BandOverride, ChurnRisk, HealthScore
from surveys.models import Campaign, Survey, SurveyResponse


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731 - resolved per test
        sqlalchemy_session_persistence = "commit"


class AccountFactory(BaseFactory):
    class Meta:
        model = Account

    name = factory.Faker("company")
    domain = factory.Sequence(lambda n: f"customer{n}.example.com")
    segment = factory.Iterator(["smb", "mid_market", "enterprise"])
    plan = factory.Iterator(["starter", "growth", "enterprise"])
    arr = factory.LazyFunction(lambda: Decimal("48000.00"))
    seats = 40
    contract_start = dt.date(2025, 3, 1)
    renewal_date = dt.date(2027, 3, 1)
    lifecycle_stage = "mature"


class ContactFactory(BaseFactory):
    class Meta:
        model = Contact

    account = factory.SubFactory(AccountFactory)
    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"person{n}@example.com")
    role = "champion"
    locale = "en"
    timezone = "Europe/Berlin"


class TaskFactory(BaseFactory):
    class Meta:
        model = Task

    account = factory.SubFactory(AccountFactory)
    kind = "churn_risk"
    severity = "high"
    title = "Usage fell by half in 30 days"
    reason = "usage_decline"


class TimelineEntryFactory(BaseFactory):
    class Meta:
        model = TimelineEntry

    account = factory.SubFactory(AccountFactory)
    kind = "note"
    body = "Called the champion; renewal on track."


# ---- CSM workspace: scores and risk as the scoring runs write them, playbooks ----


class HealthScoreFactory(BaseFactory):
    class Meta:
        model = HealthScore

    account = factory.SubFactory(AccountFactory)
    scored_on = factory.LazyFunction(dt.date.today)
    score = 62.0
    band = factory.LazyAttribute(
        lambda row: "red" if row.score < 40 else "yellow" if row.score < 70 else "green"
    )
    method = "model"
    churn_probability = factory.LazyAttribute(lambda row: round(1 - row.score / 100, 3))
    drivers = factory.LazyFunction(
        lambda: [
            {
                "feature": "active_users_change_30d",
                "value": -0.45,
                "contribution": 0.8,
                "sentence": "Active users down 45% in 30 days",
            },
            {
                "feature": "detractors_90d",
                "value": 2,
                "contribution": 0.4,
                "sentence": "2 detractors this quarter",
            },
            {
                "feature": "open_tickets",
                "value": 1,
                "contribution": -0.1,
                "sentence": "Only 1 open ticket",
            },
        ]
    )


class ChurnRiskFactory(BaseFactory):
    class Meta:
        model = ChurnRisk

    account = factory.SubFactory(AccountFactory)
    scored_on = factory.LazyFunction(dt.date.today)
    p_churn_before_renewal = 0.25
    p_churn_90d = 0.1
    expected_remaining_months = 20.0
    survival_curve = factory.LazyFunction(lambda: [[m, round(0.98**m, 4)] for m in range(0, 25, 3)])


class BandOverrideFactory(BaseFactory):
    class Meta:
        model = BandOverride

    account = factory.SubFactory(AccountFactory)
    band = "green"
    reason = "Exec sponsor confirmed the renewal"
    expires_on = factory.LazyFunction(lambda: clock.today() + dt.timedelta(days=30))


class PlaybookFactory(BaseFactory):
    class Meta:
        model = Playbook

    name = factory.Sequence(lambda n: f"Playbook {n}")
    description = "Close the loop"
    steps = factory.LazyFunction(lambda: ["Call within 48 hours", "Log the reason"])
    task_kind = "detractor"


# ---- Surveys: answers as the public response pages store them ----


class SurveyFactory(BaseFactory):
    class Meta:
        model = Survey

    name = "Quarterly NPS"
    kind = "nps"
    texts = factory.LazyFunction(lambda: {"en": {"question": "Would you recommend us?"}})


class SurveyResponseFactory(BaseFactory):
    class Meta:
        model = SurveyResponse

    survey = factory.SubFactory(SurveyFactory)
    account = factory.SubFactory(AccountFactory)
    kind = factory.SelfAttribute("survey.kind")
    score = 9
    comment = "Great support team."
    responded_at = dt.datetime(2026, 3, 10, 9, 30)


class CampaignFactory(BaseFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    survey = factory.SubFactory(SurveyFactory)
    trigger = "recurring"
    cron = "0 6 * * *"
    period_days = 90
    audience = factory.LazyFunction(dict)
    window_start_hour = 0
    window_end_hour = 24
    weekdays_only = False


# ---- integrations ----


class ExternalIdFactory(BaseFactory):
    class Meta:
        model = ExternalId

    account = factory.SubFactory(AccountFactory)
    source = "hubspot"
    external_id = factory.Sequence(lambda n: str(1000 + n))


class SupportTicketFactory(BaseFactory):
    """A helpdesk ticket as a sync stores it: solved an hour ago, synced just now."""

    class Meta:
        model = SupportTicket

    account = factory.SubFactory(AccountFactory)
    source = "zendesk"
    external_id = factory.Sequence(lambda n: str(5000 + n))
    subject = "Cannot export report"
    status = "solved"
    solved_at = factory.LazyFunction(lambda: utcnow() - dt.timedelta(hours=1))
    created_at = factory.LazyAttribute(lambda row: row.solved_at - dt.timedelta(hours=5))
    updated_at = factory.SelfAttribute("solved_at")
    requester_email = None
    synced_at = factory.LazyFunction(utcnow)


# ---- audit log ----


class AuditEntryFactory(BaseFactory):
    """An admin's action as record_audit stores it (no actor: a CLI command)."""

    class Meta:
        model = AuditEntry

    action = "api_key.created"
    target = factory.Sequence(lambda n: f"csk_{n:08d}")
    details = factory.LazyFunction(lambda: {"name": "Warehouse sync", "scopes": ["read:scores"]})
