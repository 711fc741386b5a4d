"""Custom traits of the demo book, as a CRM sync would send them: one of each type, so the
account page and the API's trait filters have something to show from the first `make run`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import insert

from cs_platform.bulk_writes import insert_ignoring_conflicts
from cs_platform.models import AccountTrait, TraitDefinition, utcnow

DEFINITIONS = [
    {"key": "support_tier", "label": "Support tier", "type": "string",
     "description": "Support package in the contract."},
    {"key": "licences_purchased", "label": "Licences purchased", "type": "number",
     "description": "Seats paid for, in steps of ten."},
    {"key": "sso_enabled", "label": "SSO enabled", "type": "boolean",
     "description": "Single sign-on is switched on."},
    {"key": "go_live", "label": "Go-live date", "type": "date",
     "description": "First day in production."},
]  # fmt: skip
TIERS = {"starter": "Standard", "growth": "Premium", "enterprise": "Platinum"}
GO_LIVE_AFTER = pd.Timedelta(days=21)


def demo_trait_rows(accounts: pd.DataFrame) -> list[dict]:
    """account_traits rows for the demo accounts (id, plan, seats, segment, contract_start)."""
    now = utcnow()
    ids = accounts["id"].to_numpy()
    licences = np.ceil(accounts["seats"].to_numpy() / 10) * 10
    sso = (accounts["segment"] == "enterprise").to_numpy() | (ids % 3 == 0)
    go_live = pd.to_datetime(accounts["contract_start"]) + GO_LIVE_AFTER
    columns = {
        "support_tier": ("value_text", accounts["plan"].map(TIERS).to_numpy()),
        "licences_purchased": ("value_number", licences.astype(float)),
        "sso_enabled": ("value_bool", sso),
        "go_live": ("value_date", [day.date() if pd.notna(day) else None for day in go_live]),
    }
    return [
        {"account_id": int(account_id), "key": key, column: _plain(value), "updated_at": now}
        for key, (column, values) in columns.items()
        for account_id, value in zip(ids, values, strict=True)
        if value is not None
    ]


def _plain(value: object) -> object:
    """numpy scalars as the Python values drivers take."""
    return value.item() if isinstance(value, np.generic) else value


def install_demo_traits(connection, accounts: pd.DataFrame) -> int:
    """Define the demo traits (keeping any a user relabelled) and give every demo account its
    values; returns the values written."""
    insert_ignoring_conflicts(
        TraitDefinition.__table__,
        [definition | {"created_at": utcnow()} for definition in DEFINITIONS],
        ["key"],
        returning=("key",),
    )
    rows = demo_trait_rows(accounts)
    by_column: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:  # an executemany needs the same keys in every row
        by_column.setdefault(tuple(row), []).append(row)
    for same_keys in by_column.values():
        connection.execute(insert(AccountTrait.__table__), same_keys)
    return len(rows)
