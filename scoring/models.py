"""Scores written by the scoring runs: health and churn-risk history, the model registry, and
the health bands announced to webhooks."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cs_platform.extensions import Model
from cs_platform.models import Account, in_check, utcnow

BANDS = ("green", "yellow", "red")
SCORING_METHODS = ("model", "scorecard")
QUARANTINE_LISTED = 20  # accounts a ScoringRun names of those it could not score
MODEL_KINDS = ("health", "survival")


class ModelVersion(Model):
    """A trained model in the registry; at most one active per kind (enforced by the database)."""

    __tablename__ = "model_versions"
    __table_args__ = (
        CheckConstraint(in_check("kind", MODEL_KINDS), name="kind"),
        Index(
            "uq_model_versions_one_active_per_kind",
            "kind",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    trained_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    features: Mapped[list] = mapped_column(JSON, default=list)
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    # The serialised model (XGBoost UBJSON / pickled lifelines fitter), kept in the database so
    # every process sees the same registry.
    artifact: Mapped[bytes | None]
    active: Mapped[bool] = mapped_column(default=False)


class ScoringRun(Model):
    """One completed scoring run (nightly job, CLI or demo backfill): its day, how it scored and
    how long it took, so /metrics can show the last run's duration and the count of runs.

    Why a row per run: /metrics is served by whichever web worker is scraped, while the run
    happens in the scheduler (or a CLI) process, so an in-process prometheus Histogram would
    only ever show the web worker's own zero. No existing table holds it: every HealthScore row
    of a run carries the same `updated_at` (one timestamp per run, so no duration), ModelVersion
    is about training, and the audit log is for people's actions. The row is added in the run's
    own transaction, so it exists exactly when that day's scores were committed; a run that
    fails or is killed leaves neither. One small row a day; nothing purges it.
    """

    __tablename__ = "scoring_runs"
    __table_args__ = (
        CheckConstraint(in_check("method", SCORING_METHODS), name="method"),
        Index("ix_scoring_runs_finished_at", "finished_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scored_on: Mapped[dt.date]
    method: Mapped[str] = mapped_column(String(16))
    accounts: Mapped[int]
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    duration_seconds: Mapped[float]
    # Live accounts the run left out because their data cannot be scored (a date out of range, a
    # number that is not finite), and the first QUARANTINE_LISTED of them as {account_id, reason}.
    quarantined: Mapped[int] = mapped_column(default=0, server_default="0")
    quarantined_accounts: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")

    def quarantine_notice(self) -> str:
        """What an admin reads: "2 accounts were not scored on 2026-03-04: account 17 renewal
        date 2300-01-01 out of range; account 21 arr is not a finite number (inf)"."""
        listed = "; ".join(
            f"account {q['account_id']} {q['reason']}" for q in self.quarantined_accounts
        )
        more = self.quarantined - len(self.quarantined_accounts)
        rest = f"; and {more} more" if more > 0 else ""
        accounts = "1 account was" if self.quarantined == 1 else f"{self.quarantined} accounts were"
        return f"{accounts} not scored on {self.scored_on}: {listed}{rest}"


class HealthScore(Model):
    """An account's health on one day: 0-100 score, band, churn probability and top drivers."""

    __tablename__ = "health_scores"
    __table_args__ = (
        UniqueConstraint("account_id", "scored_on"),
        CheckConstraint("score >= 0 AND score <= 100", name="score_range"),
        CheckConstraint(in_check("band", BANDS), name="band"),
        CheckConstraint(in_check("method", SCORING_METHODS), name="method"),
        CheckConstraint(
            "churn_probability IS NULL OR (churn_probability >= 0 AND churn_probability <= 1)",
            name="probability_range",
        ),
        Index("ix_health_scores_scored_on", "scored_on"),
        Index("ix_health_scores_updated_at_id", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    scored_on: Mapped[dt.date]
    score: Mapped[float]
    band: Mapped[str] = mapped_column(String(8))
    method: Mapped[str] = mapped_column(String(16), default="model")
    churn_probability: Mapped[float | None]
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    # [{"feature": ..., "value": ..., "contribution": ..., "sentence": ...}, ...] strongest first
    drivers: Mapped[list] = mapped_column(JSON, default=list)
    # Context drivers (ARR, tenure, renewal timing, segment), shown apart from the levers
    context: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    # {"7": {"since", "previous_score", "delta", "parts": [{"feature", "points", "sentence"}]},
    #  "30": ...}: what moved the score since last week and last month
    changes: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    account: Mapped[Account] = relationship()


class ChurnRisk(Model):
    """An account's survival-model risk on one day."""

    __tablename__ = "churn_risks"
    __table_args__ = (
        UniqueConstraint("account_id", "scored_on"),
        CheckConstraint(
            "p_churn_before_renewal >= 0 AND p_churn_before_renewal <= 1", name="p_renewal_range"
        ),
        CheckConstraint("p_churn_90d >= 0 AND p_churn_90d <= 1", name="p_90d_range"),
        Index("ix_churn_risks_scored_on", "scored_on"),
        Index("ix_churn_risks_updated_at_id", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    scored_on: Mapped[dt.date]
    p_churn_before_renewal: Mapped[float]
    p_churn_90d: Mapped[float]
    expected_remaining_months: Mapped[float | None]
    # [[months_from_now, survival_probability], ...] for the account page's curve
    survival_curve: Mapped[list] = mapped_column(JSON, default=list)
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    account: Mapped[Account] = relationship()


class BandOverride(Model):
    """A CSM's manual band for an account, with a reason, until it expires; the model's own score
    is still computed and kept beside it."""

    __tablename__ = "band_overrides"
    __table_args__ = (
        CheckConstraint(in_check("band", BANDS), name="band"),
        Index("ix_band_overrides_account_expires", "account_id", "expires_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    band: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(500))
    expires_on: Mapped[dt.date]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Set when a newer override replaces this one or a CSM clears it early.
    ended_at: Mapped[dt.datetime | None]

    account: Mapped[Account] = relationship()


class AnnouncedBand(Model):
    """The health band announced for an account on a scoring day: the first one seen, then each
    band change health_score.changed told (the baseline of the band hysteresis in
    `scoring.events`). The table keeps its original name, from when the webhooks held it."""

    __tablename__ = "webhook_announced_bands"
    __table_args__ = (UniqueConstraint("account_id", "scored_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    scored_on: Mapped[dt.date]
    band: Mapped[str] = mapped_column(String(8))


class ScorecardSettings(Model):
    """The admin-edited scorecard and band thresholds; one row (id 1), defaults until saved."""

    __tablename__ = "scorecard_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # [{"feature": ..., "weight": ..., "bad": ..., "good": ...}, ...] (scoring.scorecard.Measure)
    measures: Mapped[list] = mapped_column(JSON, default=list)
    green_at: Mapped[float] = mapped_column(default=70.0)
    red_below: Mapped[float] = mapped_column(default=40.0)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
