"""Survey responses and NPS / CSAT / CES metrics by period and segment."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cs_platform.api import services
from cs_platform.api.core import api_blueprint, guarded, query_args
from cs_platform.api.pagination import keyset_page, page_schema
from cs_platform.api.schemas import (
    MetricArgs,
    MetricsSchema,
    SurveyResponseListArgs,
    SurveyResponseSchema,
)
from surveys.models import SurveyResponse

bp = api_blueprint("surveys_api", __name__, "Survey responses and metrics.", tag="Survey responses")


@bp.route("/survey-responses", methods=["GET"])
@guarded(bp, "read:surveys")
@query_args(bp, SurveyResponseListArgs)
@bp.response(200, page_schema(SurveyResponseSchema))
def list_survey_responses(**args: Any):
    """Survey answers in the order they were given, optionally since a time; with
    `updated_since`, the answers given or changed (score, comment, erasure) since then, in the
    order of their latest change, for incremental pulls."""
    statement = select(SurveyResponse)
    if "since" in args:
        statement = statement.where(SurveyResponse.responded_at >= args["since"])
    for name in ("kind", "account_id"):
        if name in args:
            statement = statement.where(getattr(SurveyResponse, name) == args[name])
    if "updated_since" not in args:
        return keyset_page(statement, (SurveyResponse.responded_at, SurveyResponse.id), args)
    statement = statement.where(SurveyResponse.changed_at >= args["updated_since"])
    return keyset_page(statement, (SurveyResponse.changed_at, SurveyResponse.id), args)


@bp.route("/survey-metrics", methods=["GET"])
@guarded(bp, "read:surveys")
@query_args(bp, MetricArgs)
@bp.response(200, MetricsSchema)
def get_survey_metrics(**args: Any):
    """NPS, CSAT or CES with 95 % intervals per week, month or quarter and account segment."""
    return {"kind": args["kind"], "period": args["period"], "data": services.survey_metrics(args)}
