"""marshmallow schemas of the REST API: what each endpoint reads and writes.

Ids and timestamps are dump_only; the account write schema lists the CRM fields RevOps may set.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from cs_platform.accounts.traits import FILTER_HELP, KEY_PATTERN, MAX_TEXT
from cs_platform.api.enums import ENUMS, enum_field
from cs_platform.api.fields import (
    NO_CONTROL_CHARACTERS,
    BoundedDate,
    Cursor,
    FullMatch,
    Money,
    QueryId,
    Text,
    UtcDateTime,
)
from cs_platform.api.pagination import PageArgs
from cs_platform.api.services import EXTERNAL_REF_PATTERNS
from cs_platform.models import MAX_ARR

MAX_SEATS = 10**7
MAX_BULK_ROWS = 500


def always_present(schema: type[Schema]) -> type[Schema]:
    """Document every field of an answer's schema as required: each is in every answer (null
    where it allows None), so a generated client types none of them as optional."""
    for field in schema._declared_fields.values():
        field.required = True
    return schema


@always_present
class ExternalIdSchema(Schema):
    source = fields.String(dump_only=True)
    external_id = fields.String(dump_only=True)


TRAIT_VALUE = {"type": ["string", "number", "boolean"]}
TRAIT_VALUE_WRITTEN = {
    "anyOf": [
        {"type": "string", "maxLength": MAX_TEXT, "pattern": NO_CONTROL_CHARACTERS.regex.pattern},
        {"type": "number", "minimum": -1e15, "maximum": 1e15},
        {"type": "boolean"},
        {"type": "null"},
    ]
}
MAX_TRAITS_WRITTEN = 50
TRAITS_WRITTEN = {
    "description": "Custom traits to set: a key new to the platform takes the type of its first "
    "value (true/false: boolean, a number: number, YYYY-MM-DD: date, other text: string) unless "
    "declared under /account-traits; later values must have that type; null removes the trait.",
    "propertyNames": {"pattern": f"^{KEY_PATTERN.pattern}$"},
    "maxProperties": MAX_TRAITS_WRITTEN,
}


def at_most_traits(sent: dict) -> None:
    """Refuse more traits in one write than TRAITS_WRITTEN documents."""
    if len(sent) > MAX_TRAITS_WRITTEN:
        raise ValidationError(f"at most {MAX_TRAITS_WRITTEN} traits per write")


@always_present
class AccountSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String()
    domain = fields.String(allow_none=True)
    segment = enum_field("Segment")
    plan = enum_field("Plan")
    arr = fields.Float(metadata={"description": "Annual recurring revenue."})
    seats = fields.Integer()
    contract_start = fields.Date(allow_none=True)
    renewal_date = fields.Date(allow_none=True)
    lifecycle_stage = enum_field("LifecycleStage")
    churned_at = fields.Date(allow_none=True)
    churn_reason = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    external_ids = fields.List(fields.Nested(ExternalIdSchema), dump_only=True)
    traits = fields.Dict(
        attribute="trait_values",
        dump_only=True,
        keys=fields.String(),
        values=fields.Raw(metadata=TRAIT_VALUE),
        metadata={"description": "Custom traits: strings, numbers, booleans, dates YYYY-MM-DD."},
    )
    created_at = UtcDateTime(dump_only=True)
    updated_at = UtcDateTime(dump_only=True)


class AccountWriteSchema(Schema):
    """CRM fields of an account; on PATCH every field is optional."""

    name = Text(validate=validate.Length(1, 200))
    domain = Text(allow_none=True, validate=validate.Length(max=253))
    segment = enum_field("Segment")
    plan = enum_field("Plan")
    arr = Money(validate=validate.Range(0, MAX_ARR))
    seats = fields.Integer(strict=True, validate=validate.Range(0, MAX_SEATS))
    contract_start = BoundedDate(allow_none=True)
    renewal_date = BoundedDate(
        evergreen=True,
        allow_none=True,
        metadata={"description": "Not before contract_start (the one sent, else the stored one)."},
    )
    lifecycle_stage = enum_field("LifecycleStage")
    churned_at = BoundedDate(allow_none=True)
    churn_reason = Text(allow_none=True, validate=validate.Length(max=200))
    owner_email = fields.Email(
        allow_none=True,
        load_only=True,
        validate=validate.Length(max=254),
        metadata={"description": "Email of the CSM who owns the account; null to unassign."},
    )
    traits = fields.Dict(
        keys=fields.String(validate=FullMatch(KEY_PATTERN)),
        values=fields.Raw(allow_none=True, metadata=TRAIT_VALUE_WRITTEN),
        validate=at_most_traits,
        metadata=TRAITS_WRITTEN,
    )


class AccountUpsertSchema(AccountWriteSchema):
    """An account as the CRM sends it: name, segment and plan always, other fields optional."""

    name = Text(required=True, validate=validate.Length(1, 200))
    segment = enum_field("Segment", required=True)
    plan = enum_field("Plan", required=True)


class BulkAccountSchema(AccountUpsertSchema):
    """One account of a batch, named by its CRM id like PUT /accounts/external/{source}/{id}."""

    source = fields.String(
        required=True,
        validate=FullMatch(EXTERNAL_REF_PATTERNS["source"]),
        metadata={"example": "hubspot"},
    )
    external_id = fields.String(
        required=True,
        validate=FullMatch(EXTERNAL_REF_PATTERNS["external_id"]),
        metadata={"example": "4711"},
    )


class RowsCheckedOneByOne(fields.List):
    """A list of objects documented as its items' schema but read as plain objects, so that
    the view checks each row alone and one bad row does not refuse the batch."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list:
        if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
            raise ValidationError("must be a list of objects")
        return value


class BulkAccountsSchema(Schema):
    accounts = RowsCheckedOneByOne(
        fields.Nested(BulkAccountSchema),
        required=True,
        validate=validate.Length(1, MAX_BULK_ROWS),
        metadata={"description": f"1 to {MAX_BULK_ROWS} accounts; each is checked alone."},
    )


@always_present
class BulkRowResultSchema(Schema):
    index = fields.Integer(metadata={"description": "The row's position in the request, from 0."})
    status = enum_field("BulkRowStatus")
    source = fields.String(allow_none=True)
    external_id = fields.String(allow_none=True)
    account_id = fields.Integer(allow_none=True)
    errors = fields.Dict(
        allow_none=True,
        metadata={"description": "Why a failed row was refused, by field, as in a 422."},
    )


# How many rows of a batch ended in each status.
BulkSummarySchema = always_present(
    Schema.from_dict(
        {status: fields.Integer() for status in ENUMS["BulkRowStatus"]}, name="BulkSummarySchema"
    )
)


@always_present
class BulkResultSchema(Schema):
    summary = fields.Nested(BulkSummarySchema)
    results = fields.List(fields.Nested(BulkRowResultSchema))


def TraitFilters() -> fields.List:  # noqa: N802 - reads like a field class at call sites
    """The repeatable `trait` query filter of account lists."""
    return fields.List(
        Text(validate=validate.Length(1, 1100)),
        metadata={"description": f"Only accounts whose custom traits match: {FILTER_HELP}."},
    )


class AccountListArgs(PageArgs):
    segment = enum_field("Segment")
    plan = enum_field("Plan")
    lifecycle_stage = enum_field("LifecycleStage")
    owner_id = QueryId()
    domain = Text(validate=validate.Length(1, 253))
    updated_since = UtcDateTime(metadata={"description": "Only accounts changed at or after."})
    trait = TraitFilters()
    cursor = Cursor(int)


@always_present
class BandOverrideSchema(Schema):
    band = enum_field("Band")
    reason = fields.String()
    expires_on = fields.Date()


@always_present
class DriverSchema(Schema):
    """One input of a score and how much it moved it."""

    feature = fields.String(dump_only=True, metadata={"example": "active_users_change_30d"})
    value = fields.Raw(
        dump_only=True,
        metadata={"type": ["number", "string", "null"], "description": "Its value that day."},
    )
    contribution = fields.Float(
        dump_only=True,
        metadata={"description": "Log-odds towards churn (model) or scorecard points lost."},
    )
    sentence = fields.String(dump_only=True, metadata={"example": "Active users down 40 %"})


class ScoreChangePartSchema(Schema):
    """One input's share of a score change; the parts add up to the delta."""

    feature = fields.String(required=True, dump_only=True)
    points = fields.Float(required=True, dump_only=True)
    sentence = fields.String(required=True, dump_only=True)
    context = fields.Boolean(
        dump_only=True, metadata={"description": "A context input, not a lever (newer rows)."}
    )


@always_present
class ScoreChangeSchema(Schema):
    since = fields.String(dump_only=True, metadata={"format": "date"})
    previous_score = fields.Float(dump_only=True)
    delta = fields.Float(dump_only=True)
    parts = fields.List(fields.Nested(ScoreChangePartSchema), dump_only=True)


class ScoreChangesSchema(Schema):
    """What moved the score; a look-back is left out when the account was not a customer then."""

    week = fields.Nested(
        ScoreChangeSchema,
        attribute="7",
        data_key="7",
        dump_only=True,
        metadata={"description": "Since last week."},
    )
    month = fields.Nested(
        ScoreChangeSchema,
        attribute="30",
        data_key="30",
        dump_only=True,
        metadata={"description": "Since last month."},
    )


@always_present
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
    band = enum_field("Band", dump_only=True)
    method = enum_field("ScoringMethod", dump_only=True)
    churn_probability = fields.Float(
        dump_only=True,
        allow_none=True,
        metadata={"description": "P(churn within 90 days); null for the cold-start scorecard."},
    )
    model_version_id = fields.Integer(dump_only=True, allow_none=True)
    drivers = fields.List(
        fields.Nested(DriverSchema),
        dump_only=True,
        metadata={"description": "Levers a CSM can act on, strongest first."},
    )
    context = fields.List(
        fields.Nested(DriverSchema),
        dump_only=True,
        metadata={"description": "Context (ARR, tenure, renewal timing, segment)."},
    )
    changes = fields.Nested(ScoreChangesSchema, dump_only=True)
    updated_at = UtcDateTime(dump_only=True)


@always_present
class AccountHealthSchema(HealthScoreSchema):
    """The latest score, with the band a CSM set by hand while the override lasts."""

    effective_band = enum_field("Band", dump_only=True)
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
    band = enum_field("Band")
    segment = enum_field("Segment", metadata={"description": "Only accounts of this segment."})
    owner_id = QueryId(metadata={"description": "Only accounts this user owns."})


SCORE = validate.Range(0, 100)


class LatestScoreArgs(PageArgs):
    """Filters of the latest score of each account; all optional, combined with AND."""

    segment = enum_field("Segment")
    plan = enum_field("Plan")
    lifecycle_stage = enum_field(
        "LifecycleStage", metadata={"description": "churned lists churned accounts."}
    )
    owner_id = QueryId(metadata={"description": "Only accounts this user owns."})
    unowned = fields.Boolean(
        metadata={"description": "true: only accounts without an owner; false: no filter."}
    )
    band = enum_field("Band", metadata={"description": "The model's band."})
    effective_band = enum_field(
        "Band", metadata={"description": "The band in force: a CSM's override, else the model's."}
    )
    min_score = fields.Float(validate=SCORE, metadata={"description": "Score at least (0-100)."})
    max_score = fields.Float(validate=SCORE, metadata={"description": "Score at most (0-100)."})
    updated_since = UtcDateTime(
        metadata={"description": "Only accounts whose latest score was written at or after."}
    )
    include_churned = fields.Boolean(
        load_default=False,
        metadata={"description": "Also list churned accounts (a churn date or the stage)."},
    )
    trait = TraitFilters()
    cursor = Cursor(int)


@always_present
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


@always_present
class SurveyResponseSchema(Schema):
    id = fields.Integer(dump_only=True)
    survey_id = fields.Integer(dump_only=True)
    account_id = fields.Integer(dump_only=True)
    contact_id = fields.Integer(dump_only=True, allow_none=True)
    kind = enum_field("SurveyKind", dump_only=True)
    score = fields.Integer(dump_only=True)
    comment = fields.String(dump_only=True, allow_none=True)
    responded_at = UtcDateTime(dump_only=True)
    updated_at = UtcDateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "When the score or comment last changed; null if never."},
    )


class SurveyResponseListArgs(PageArgs):
    since = UtcDateTime(metadata={"description": "Only answers given at or after this time."})
    updated_since = UtcDateTime(
        metadata={
            "description": "Only answers given or changed (score, comment, erasure) at or after "
            "this time, ordered by their latest change: pull with the time of your last pull."
        }
    )
    kind = enum_field("SurveyKind")
    account_id = QueryId()
    cursor = Cursor(dt.datetime, int)


class MetricArgs(Schema):
    kind = enum_field("SurveyKind", required=True)
    period = enum_field("MetricPeriod", load_default="month")
    segment = enum_field("Segment", metadata={"description": "Only this segment."})
    since = fields.Date(metadata={"description": "First day (inclusive)."})
    until = fields.Date(metadata={"description": "Last day (inclusive)."})


@always_present
class MetricRowSchema(Schema):
    period = fields.String(metadata={"description": "e.g. 2026-03, 2026Q1 or a week range."})
    segment = enum_field("Segment")
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


@always_present
class MetricsSchema(Schema):
    kind = enum_field("SurveyKind")
    period = enum_field("MetricPeriod")
    data = fields.List(fields.Nested(MetricRowSchema))


@always_present
class TaskSchema(Schema):
    id = fields.Integer(dump_only=True)
    account_id = fields.Integer(dump_only=True)
    kind = enum_field("TaskKind", dump_only=True)
    severity = enum_field("TaskSeverity", dump_only=True)
    owner_id = fields.Integer(dump_only=True, allow_none=True)
    title = fields.String(dump_only=True)
    reason = fields.String(dump_only=True)
    details = fields.String(dump_only=True)
    due_date = fields.Date(dump_only=True, allow_none=True)
    status = enum_field("TaskStatus", dump_only=True)
    snoozed_until = fields.Date(dump_only=True, allow_none=True)
    outcome = enum_field("TaskOutcome", dump_only=True, allow_none=True)
    created_at = UtcDateTime(dump_only=True)
    completed_at = UtcDateTime(dump_only=True, allow_none=True)


class TaskListArgs(PageArgs):
    status = enum_field("TaskStatus")
    kind = enum_field("TaskKind")
    account_id = QueryId()
    cursor = Cursor(int)
