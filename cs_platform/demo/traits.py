"""Custom traits of the demo book, as a CRM sync would send them: one of each type, so the
account page and the API's trait filters have something to show from the first `make run`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from cs_platform.bulk_writes import insert_ignoring_conflicts
from cs_platform.demo.loader import write_frame
from cs_platform.models import TraitDefinition, utcnow

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


def demo_trait_frames(accounts: pd.DataFrame) -> list[pd.DataFrame]:
    """account_traits rows for the demo accounts (id, plan, seats, segment, contract_start):
    a frame per trait, holding its own value column."""
    now = utcnow()
    ids = accounts["id"].to_numpy()
    licences = np.ceil(accounts["seats"].to_numpy() / 10) * 10
    sso = (accounts["segment"] == "enterprise").to_numpy() | (ids % 3 == 0)
    go_live = pd.to_datetime(accounts["contract_start"]) + GO_LIVE_AFTER
    columns = {
        "support_tier": ("value_text", accounts["plan"].map(TIERS).to_numpy()),
        "licences_purchased": ("value_number", licences.astype(float)),
        "sso_enabled": ("value_bool", sso),
        "go_live": ("value_date", go_live.dt.normalize().to_numpy()),
    }
    return [
        pd.DataFrame({"account_id": ids, "key": key, column: values, "updated_at": now}).dropna()
        for key, (column, values) in columns.items()
    ]


def install_demo_traits(connection: Connection, accounts: pd.DataFrame) -> int:
    """Define the demo traits (keeping any a user relabelled) and give every demo account its
    values, set-wise; returns the values written."""
    insert_ignoring_conflicts(
        TraitDefinition.__table__,
        [definition | {"created_at": utcnow()} for definition in DEFINITIONS],
        ["key"],
        returning=("key",),
    )
    frames = demo_trait_frames(accounts)
    return sum(write_frame(connection, "account_traits", frame) for frame in frames)
