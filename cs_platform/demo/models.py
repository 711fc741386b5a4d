"""Ground truth of a generated demo book, kept so the scoring models can be checked against it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cs_platform.extensions import Model
from cs_platform.models import utcnow


class DemoRun(Model):
    """One run of the demo generator: its seed and the hidden hazard model it used."""

    __tablename__ = "demo_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    seed: Mapped[int]
    accounts: Mapped[int]
    as_of: Mapped[dt.date]
    # {"baseline_weekly_hazard": ..., "coefficients": {driver: log-hazard per unit}, ...}
    hazard_model: Mapped[dict] = mapped_column(JSON)
    generated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DemoAccountTruth(Model):
    """The true hazard of one demo account and the driver that raised it most."""

    __tablename__ = "demo_account_truth"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    # Weekly churn hazard at the end of the history (or at churn) and its mean over the history.
    final_hazard: Mapped[float]
    mean_hazard: Mapped[float]
    churned: Mapped[bool]
    top_driver: Mapped[str | None] = mapped_column(String(32))
    # Log-hazard contribution of each driver at the end of the history (or at churn).
    driver_contributions: Mapped[dict] = mapped_column(JSON)
