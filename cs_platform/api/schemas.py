"""marshmallow schemas of the REST API: what each endpoint reads and writes.

Ids and timestamps are dump_only; the account write schema lists the CRM fields RevOps may set.
"""

from __future__ import annotations

import datetime as dt

from marshmallow import Schema, fields, validate

from cs_platform.api.fields import Cursor, Id, Money, Text, UtcDateTime, largest_whole_amount
from cs_platform.api.pagination import PageArgs
from cs_platform.models import (
    LIFECYCLE_STAGES,
    PLANS,
    SEGMENTS,
    TASK_KINDS,
    TASK_STATUSES,
    Account,
)
from scoring.models import BANDS
from surveys.metrics import PERIODS
from surveys.models import SURVEY_KINDS

# Account.arr is NUMERIC(14, 2): 999,999,999,999.99 at most on PostgreSQL (10**12 does not fit).
MAX_ARR = largest_whole_amount(Account.__table__.c.arr)
MAX_SEATS = 10**7


def one_of(values: tuple[str, ...], **kwargs) -> fields.String:
    return fields.String(validate=validate.OneOf(values), **kwargs)


class ExternalIdSchema(Schema):
    source = fields.String(dump_only=True)
    external_id = fields.String(dump_only=True)


class AccountSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String()
    domain = fields.String(allow_none=True)
    segment = fields.String(metadata={"enum": list(SEGMENTS)})
    plan = fields.String(metadata={"enum": list(PLANS)})
    arr = fields.Float(metadata={"description": "Annual recurring revenue."})
    seats = fields.Integer()
    contract_start = fields.Date(allow_none=True)
    renewal_date = fields.Date(allow_none=True)
    lifecycle_stage = fields.String(metadata={"enum": list(LIFECYCLE_STAGES)})
    churned_at = fields.Date(allow_none=True)
    churn_reason = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    external_ids = fields.List(fields.Nested(ExternalIdSchema), dump_only=True)
    created_at = UtcDateTime(dump_only=True)
    updated_at = UtcDateTime(dump_only=True)


class AccountWriteSchema(Schema):
    """CRM fields of an account; on PATCH every field is optional."""

    name = Text(validate=validate.Length(1, 200))
    domain = Text(allow_none=True, validate=validate.Length(max=253))
    segment = one_of(SEGMENTS)
    plan = one_of(PLANS)
    arr = Money(validate=validate.Range(0, MAX_ARR))
    seats = fields.Integer(strict=True, validate=validate.Range(0, MAX_SEATS))
    contract_start = fields.Date(allow_none=True)
    renewal_date = fields.Date(
        allow_none=True,
        metadata={"description": "Not before contract_start (the one sent, else the stored one)."},
    )
    lifecycle_stage = one_of(LIFECYCLE_STAGES)
    churned_at = fields.Date(allow_none=True)
    churn_reason = Text(allow_none=True, validate=validate.Length(max=200))
    owner_email = fields.Email(
        allow_none=True,
        load_only=True,
        validate=validate.Length(max=254),
        metadata={"description": "Email of the CSM who owns the account; null to unassign."},
    )


class AccountUpsertSchema(AccountWriteSchema):
    """An account as the CRM sends it: name, segment and plan always, other fields optional."""

    name = Text(required=True, validate=validate.Length(1, 200))
    segment = one_of(SEGMENTS, required=True)
    plan = one_of(PLANS, required=True)


class AccountListArgs(PageArgs):
    segment = one_of(SEGMENTS)
    plan = one_of(PLANS)
    lifecycle_stage = one_of(LIFECYCLE_STAGES)
    owner_id = Id()
    domain = Text(validate=validate.Length(1, 253))
    updated_since = UtcDateTime(metadata={"description": "Only accounts changed at or after."})
    cursor = Cursor(int)


class BandOverrideSchema(Schema):
    band = fields.String(metadata={"enum": list(BANDS)})
    reason = fields.String()
    expires_on = fields.Date()


class HealthScoreSchema(Schema):
    id = fields.Integer(dump_only=True)
    account_id = fields.Integer(dump_only=True)
    scored_on = fields.Date(dump_only=True)
    score = fields.Float(
        dump_only=True,
        metadata={
            "description": "0 (worst) to 100 (best). For the learned model 100 x b / (p + b), "
            "p = churn_probability and b = the book's 90-day base rate: 50 is average risk."
        },
    )
    band = fields.String(dump_only=True, metadata={"enum": list(BANDS)})
    method = fields.String(dump_only=True, metadata={"enum": ["model", "scorecard"]})
    churn_probability = fields.Float(
        dump_only=True,
        allow_none=True,
        metadata={"description": "P(churn within 90 days); null for the cold-start scorecard."},
    )
    model_version_id = fields.Integer(dump_only=True, allow_none=True)
    drivers = fields.List(
        fields.Dict(),
        dump_only=True,
        metadata={
            "description": "Levers a CSM can act on, strongest first: feature, value, "
            "contribution (log-odds towards churn, or scorecard points lost), sentence."
        },
    )
    context = fields.List(
        fields.Dict(),
        dump_only=True,
        metadata={"description": "Context (ARR, tenure, renewal timing, segment), same shape."},
    )
    changes = fields.Dict(
        dump_only=True,
        metadata={
            "description": 'What moved the score: {"7": since last week, "30": since last '
            'month}, each {"since", "previous_score", "delta", "parts": [{"feature", "points", '
            '"sentence", "context"}]}; parts add up to the delta.'
        },
    )
    updated_at = UtcDateTime(dump_only=True)


class AccountHealthSchema(HealthScoreSchema):
    """The latest score, with the band a CSM set by hand while the override lasts."""

    effective_band = fields.String(dump_only=True, metadata={"enum": list(BANDS)})
    override = fields.Nested(BandOverrideSchema, dump_only=True, allow_none=True)


class HealthHistoryArgs(PageArgs):
    since = fields.Date(metadata={"description": "First day (inclusive)."})
    until = fields.Date(metadata={"description": "Last day (inclusive)."})
    cursor = Cursor(dt.date, int)


class UpdatedSinceArgs(PageArgs):
    updated_since = UtcDateTime(
        metadata={"description": "Only rows written at or after this time (incremental pulls)."}
    )
    cursor = Cursor(dt.datetime, int)


class HealthScoreListArgs(UpdatedSinceArgs):
    band = one_of(BANDS)


class ChurnRiskSchema(Schema):
    id = fields.Integer(dump_only=True)
    account_id = fields.Integer(dump_only=True)
    scored_on = fields.Date(dump_only=True)
    p_churn_before_renewal = fields.Float(dump_only=True)
    p_churn_90d = fields.Float(dump_only=True)
    expected_remaining_months = fields.Float(dump_only=True, allow_none=True)
    survival_curve = fields.List(
        fields.List(fields.Float()),
        dump_only=True,
        metadata={"description": "[months from now, survival probability] pairs."},
    )
    model_version_id = fields.Integer(dump_only=True, allow_none=True)
    updated_at = UtcDateTime(dump_only=True)


class SurveyResponseSchema(Schema):
    id = fields.Integer(dump_only=True)
    survey_id = fields.Integer(dump_only=True)
    account_id = fields.Integer(dump_only=True)
    contact_id = fields.Integer(dump_only=True, allow_none=True)
    kind = fields.String(dump_only=True, metadata={"enum": list(SURVEY_KINDS)})
    score = fields.Integer(dump_only=True)
    comment = fields.String(dump_only=True, allow_none=True)
    responded_at = UtcDateTime(dump_only=True)


class SurveyResponseListArgs(PageArgs):
    since = UtcDateTime(metadata={"description": "Only answers given at or after this time."})
    kind = one_of(SURVEY_KINDS)
    account_id = Id()
    cursor = Cursor(dt.datetime, int)


class MetricArgs(Schema):
    kind = one_of(SURVEY_KINDS, required=True)
    period = one_of(tuple(PERIODS), load_default="month")
    segment = one_of(SEGMENTS, metadata={"description": "Only this segment."})
    since = fields.Date(metadata={"description": "First day (inclusive)."})
    until = fields.Date(metadata={"description": "Last day (inclusive)."})


class MetricRowSchema(Schema):
    period = fields.String(metadata={"description": "e.g. 2026-03, 2026Q1 or a week range."})
    segment = fields.String(metadata={"enum": list(SEGMENTS)})
    n = fields.Integer(metadata={"description": "Number of answers."})
    value = fields.Float(
        metadata={"description": "NPS (-100..100); CSAT % satisfied; CES % easy (0..100)."}
    )
    low = fields.Float(metadata={"description": "95 % interval, lower end."})
    high = fields.Float(metadata={"description": "95 % interval, upper end."})
    mean_score = fields.Float()
    detractors = fields.Integer()
    passives = fields.Integer()
    promoters = fields.Integer()


class MetricsSchema(Schema):
    kind = fields.String(metadata={"enum": list(SURVEY_KINDS)})
    period = fields.String(metadata={"enum": list(PERIODS)})
    data = fields.List(fields.Nested(MetricRowSchema))


class TaskSchema(Schema):
    id = fields.Integer(dump_only=True)
    account_id = fields.Integer(dump_only=True)
    kind = fields.String(dump_only=True, metadata={"enum": list(TASK_KINDS)})
    severity = fields.String(dump_only=True)
    owner_id = fields.Integer(dump_only=True, allow_none=True)
    title = fields.String(dump_only=True)
    reason = fields.String(dump_only=True)
    details = fields.String(dump_only=True)
    due_date = fields.Date(dump_only=True, allow_none=True)
    status = fields.String(dump_only=True, metadata={"enum": list(TASK_STATUSES)})
    snoozed_until = fields.Date(dump_only=True, allow_none=True)
    outcome = fields.String(dump_only=True, allow_none=True)
    created_at = UtcDateTime(dump_only=True)
    completed_at = UtcDateTime(dump_only=True, allow_none=True)


class TaskListArgs(PageArgs):
    status = one_of(TASK_STATUSES)
    kind = one_of(TASK_KINDS)
    account_id = Id()
    cursor = Cursor(int)
