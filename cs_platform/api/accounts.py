"""Accounts: list with filters, one account, and the CRM-field writes RevOps needs."""

from __future__ import annotations

from collections import Counter
from typing import Any

from cs_platform.api import account_writes, services
from cs_platform.api.core import api_blueprint, guarded, query_args, shown_to_key
from cs_platform.api.enums import ENUMS
from cs_platform.api.pagination import keyset_page, page_schema
from cs_platform.api.schemas import (
    AccountListArgs,
    AccountSchema,
    AccountUpsertSchema,
    AccountWriteSchema,
    BulkAccountSchema,
    BulkAccountsSchema,
    BulkResultSchema,
)
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


@bp.route("/accounts/<int:account_id>", methods=["PATCH"])
@guarded(bp, "write:accounts", not_found=True)
@bp.arguments(AccountWriteSchema(partial=True))
@bp.response(200, AccountSchema)
@bp.alt_response(204, description=WRITE_ONLY)
def update_account(changes: dict[str, Any], account_id: int):
    """Change some CRM fields of an account."""
    account = services.get_account(account_id)
    account_writes.update_account(account, changes)
    db.session.commit()
    return shown_to_key(account, 200, "read:scores")


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
    account, created = account_writes.upsert_by_external_id(source, external_id, fields)
    db.session.commit()
    return shown_to_key(account, 201 if created else 200, "read:scores")


@bp.route("/accounts/bulk", methods=["POST"])
@guarded(bp, "write:accounts")
@bp.arguments(BulkAccountsSchema)
@bp.response(200, BulkResultSchema)
def upsert_accounts(body: dict[str, Any]):
    """Create or update up to 500 accounts by their CRM ids in one request. Each row is checked
    alone: the answer says per row whether it was created, updated, unchanged or refused (and
    why), and the others are written. Sending the same batch again changes nothing."""
    results = account_writes.bulk_upsert(body["accounts"], BulkAccountSchema())
    db.session.commit()
    summary = Counter(result.status for result in results)
    return {
        "summary": {status: summary[status] for status in ENUMS["BulkRowStatus"]},
        "results": results,
    }
