"""Health scores and churn risk: latest per account, history, and incremental bulk pulls."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy import select

from cs_platform.api import services
from cs_platform.api.core import api_blueprint, guarded, query_args
from cs_platform.api.dumps import compiled_dump
from cs_platform.api.pagination import keyset_page, page_schema
from cs_platform.api.schemas import (
    AccountHealthSchema,
    ChurnRiskSchema,
    HealthHistoryArgs,
    HealthScoreListArgs,
    HealthScoreSchema,
    LatestScoreArgs,
    UpdatedSinceArgs,
)
from cs_platform.models import Account
from scoring.models import ChurnRisk, HealthScore

bp = api_blueprint("scores_api", __name__, "Health scores and churn risk.", tag="Health scores")
CHURN = ["Churn risks"]
# The hottest read dumps its answer with a plain function (equal to the schema's dump).
dump_account_health = compiled_dump(AccountHealthSchema())


@bp.route("/accounts/<int:account_id>/health", methods=["GET"])
@guarded(bp, "read:scores", not_found=True)
@bp.response(200, AccountHealthSchema)
def get_account_health(account_id: int) -> Response:
    """The latest health score of an account, with a CSM's band override if one is in force."""
    return jsonify(dump_account_health(services.latest_health(account_id)))


@bp.route("/accounts/<int:account_id>/health/history", methods=["GET"])
@guarded(bp, "read:scores", not_found=True)
@query_args(bp, HealthHistoryArgs)
@bp.response(200, page_schema(HealthScoreSchema))
def list_account_health_history(account_id: int, **args: Any):
    """Daily health scores of an account, oldest first."""
    services.get_account(account_id)
    statement = select(HealthScore).where(HealthScore.account_id == account_id)
    if "since" in args:
        statement = statement.where(HealthScore.scored_on >= args["since"])
    if "until" in args:
        statement = statement.where(HealthScore.scored_on <= args["until"])
    return keyset_page(statement, (HealthScore.scored_on, HealthScore.id), args)


@bp.route("/health-scores", methods=["GET"])
@guarded(bp, "read:scores")
@query_args(bp, HealthScoreListArgs)
@bp.response(200, page_schema(HealthScoreSchema))
def list_health_scores(**args: Any):
    """Health scores of every account in the order they were written, for incremental pulls."""
    statement = services.health_scores_statement(args)
    return keyset_page(statement, (HealthScore.updated_at, HealthScore.id), args)


@bp.route("/health-scores/latest", methods=["GET"])
@guarded(bp, "read:scores")
@query_args(bp, LatestScoreArgs)
@bp.response(200, page_schema(AccountHealthSchema))
def list_latest_health_scores(**args: Any):
    """The latest health score of every account, with the band in force, by account id;
    churned accounts only with include_churned=true."""
    services.without_jit()
    statement = services.latest_scores_statement(args)
    return keyset_page(statement, (Account.id,), args, item=services.health_item)


@bp.route("/accounts/<int:account_id>/churn-risk", methods=["GET"], tags=CHURN)
@guarded(bp, "read:scores", not_found=True)
@bp.response(200, ChurnRiskSchema)
def get_account_churn_risk(account_id: int):
    """The latest churn risk of an account: P(churn before renewal), P(churn in 90 days)."""
    return services.latest_churn_risk(account_id)


@bp.route("/churn-risks", methods=["GET"], tags=CHURN)
@guarded(bp, "read:scores")
@query_args(bp, UpdatedSinceArgs)
@bp.response(200, page_schema(ChurnRiskSchema))
def list_churn_risks(**args: Any):
    """Churn risks of every account in the order they were written, for incremental pulls."""
    statement = select(ChurnRisk)
    if "updated_since" in args:
        statement = statement.where(ChurnRisk.updated_at >= args["updated_since"])
    return keyset_page(statement, (ChurnRisk.updated_at, ChurnRisk.id), args)
