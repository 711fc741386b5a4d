"""Accounts: list with filters, one account, and the CRM-field writes RevOps needs."""

from __future__ import annotations

from typing import Any

from flask import Response, g

from cs_platform.api import services
from cs_platform.api.core import api_blueprint, guarded, query_args
from cs_platform.api.pagination import keyset_page, page_schema
from cs_platform.api.schemas import (
    AccountListArgs,
    AccountSchema,
    AccountUpsertSchema,
    AccountWriteSchema,
)
from cs_platform.auth.services import key_has_scope
from cs_platform.extensions import db
from cs_platform.models import Account

bp = api_blueprint("accounts_api", __name__, "Accounts and their CRM fields.", tag="Accounts")


@bp.route("/accounts", methods=["GET"])
@guarded(bp, "read:scores")
@query_args(bp, AccountListArgs)
@bp.response(200, page_schema(AccountSchema))
def list_accounts(**args: Any):
    """List accounts, oldest first, filtered by segment, plan, stage, owner or change time."""
    return keyset_page(services.accounts_statement(args), (Account.id,), args)


@bp.route("/accounts/<int:account_id>", methods=["GET"])
@guarded(bp, "read:scores", not_found=True)
@bp.response(200, AccountSchema)
def get_account(account_id: int):
    """One account."""
    return services.get_account(account_id)


WRITE_ONLY = "Written; the key lacks read:scores, so the account is not shown."


def shown_to_key(account: Account, status: int) -> tuple[Account, int] | Response:
    """The written account, for a key that may read accounts; 204 for a write-only key."""
    if not key_has_scope(g.api_key, "read:scores"):
        return Response(status=204)
    return account, status


def refuse_renewal_before_start(account: Account, changes: dict[str, Any]) -> None:
    """422, writing nothing, when the written account would renew before its contract starts
    (a date sent is compared with the other one sent, else with the stored one); churn risk
    before renewal means nothing for such an account."""
    start, renewal = account.contract_start, account.renewal_date
    if start is None or renewal is None or renewal >= start:
        return
    db.session.rollback()
    if "renewal_date" in changes:
        services.invalid("json", "renewal_date", f"must not be before contract_start {start}")
    services.invalid("json", "contract_start", f"must not be after renewal_date {renewal}")


@bp.route("/accounts/<int:account_id>", methods=["PATCH"])
@guarded(bp, "write:accounts", not_found=True)
@bp.arguments(AccountWriteSchema(partial=True))
@bp.response(200, AccountSchema)
@bp.alt_response(204, description=WRITE_ONLY)
def update_account(changes: dict[str, Any], account_id: int):
    """Change some CRM fields of an account."""
    account = services.get_account(account_id)
    services.apply_account_fields(account, changes)
    refuse_renewal_before_start(account, changes)
    db.session.commit()
    return shown_to_key(account, 200)


@bp.route(
    "/accounts/external/<source>/<external_id>",
    methods=["PUT"],
    parameters=[
        {"in": "path", "name": name, "schema": {"type": "string", "pattern": f"^{regex.pattern}$"}}
        for name, regex in services.EXTERNAL_REF_PATTERNS.items()
    ],
)
@guarded(bp, "write:accounts")
@bp.arguments(AccountUpsertSchema)
@bp.response(200, AccountSchema, description="The account existed and was updated.")
@bp.alt_response(201, schema=AccountSchema, description="The account was created.")
@bp.alt_response(204, description=WRITE_ONLY)
def upsert_account(fields: dict[str, Any], source: str, external_id: str):
    """Create or update the account a CRM knows by its own id, e.g. hubspot/4711."""
    account, created = services.upsert_by_external_id(source, external_id, fields)
    refuse_renewal_before_start(account, fields)
    db.session.commit()
    return shown_to_key(account, 201 if created else 200)
