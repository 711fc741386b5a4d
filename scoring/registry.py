"""The model registry: every trained version with its metrics, features and training time; at
most one active per kind, replaced only by a challenger that is not worse on every deciding metric
(champion/challenger): for the health model both ranking (AUC) and calibration (Brier score), since
its probabilities are shown and thresholded, not only ranked."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text, update

from cs_platform.extensions import db
from scoring.health_model import HealthModel
from scoring.models import MODEL_KINDS, ModelVersion
from scoring.survival import SurvivalModel

log = logging.getLogger(__name__)

LOADERS = {"health": HealthModel.from_bytes, "survival": SurvivalModel.from_bytes}
# How much worse a challenger's held-out Brier score may be: noise between two models that are
# equally calibrated, far less than what a badly calibrated one loses.
BRIER_TOLERANCE = 0.002
# PostgreSQL advisory lock space of model activation ("modl" in ASCII); the kind is the second key.
ACTIVATION_LOCK_SPACE = 0x6D6F646C


@dataclass(frozen=True)
class Candidate:
    """A fitted and evaluated model, not yet in the registry: what `register` stores."""

    kind: str
    artifact: bytes
    features: list[str]
    parameters: dict
    metrics: dict
    # The active model's metrics on the candidate's held-out rows (None: no champion).
    champion: dict | None


@dataclass(frozen=True)
class Criterion:
    """A held-out metric the challenger must not be worse on, beyond a tolerance."""

    metric: str
    higher_is_better: bool
    tolerance: float = 0.0

    def compare(self, challenger: float, champion: float | None) -> dict[str, Any]:
        """Both values and whether the challenger passes (it does without a champion value)."""
        not_worse = True
        if champion is not None:
            gain = challenger - champion if self.higher_is_better else champion - challenger
            # Metrics are rounded to 4 places: float noise must not decide a tie.
            not_worse = round(gain, 9) >= -self.tolerance
        return {
            "challenger": challenger,
            "champion": champion,
            "tolerance": self.tolerance,
            "not_worse": not_worse,
        }


CRITERIA = {
    "health": (Criterion("auc", True), Criterion("brier", False, BRIER_TOLERANCE)),
    "survival": (Criterion("c_index", True),),
}


def active_version(kind: str) -> ModelVersion | None:
    return db.session.scalar(
        select(ModelVersion).where(ModelVersion.kind == kind, ModelVersion.active.is_(True))
    )


def load_active(kind: str) -> tuple[Any, ModelVersion] | None:
    """The active model of `kind` and its registry row, or None before the first training."""
    version = active_version(kind)
    if version is None or version.artifact is None:
        return None
    return LOADERS[kind](version.artifact), version


def compare(kind: str, challenger: dict, champion: dict | None) -> dict[str, dict[str, Any]]:
    """Each deciding metric of the challenger against the champion's on the same held-out rows
    (no champion: nothing to be worse than)."""
    champion = champion or {}
    return {
        criterion.metric: criterion.compare(
            challenger[criterion.metric], champion.get(criterion.metric)
        )
        for criterion in CRITERIA[kind]
    }


def challenger_wins(comparisons: dict[str, dict[str, Any]]) -> bool:
    """A new model replaces the active one unless it is worse on any deciding metric."""
    return all(row["not_worse"] for row in comparisons.values())


def register(candidate: Candidate) -> ModelVersion:
    """Store a trained version and activate it if it is not worse than the champion (its
    metrics on the challenger's held-out rows) on any deciding metric; flushes. The version's
    metrics keep every comparison, so the registry says why a challenger stayed inactive."""
    kind = candidate.kind
    comparisons = compare(kind, candidate.metrics, candidate.champion)
    activate = challenger_wins(comparisons)
    if activate:
        deactivate_active(kind)
    version = ModelVersion(
        kind=kind,
        features=candidate.features,
        parameters=candidate.parameters,
        metrics=_recorded_metrics(candidate.metrics, comparisons, activate),
        artifact=candidate.artifact,
        active=activate,
    )
    db.session.add(version)
    db.session.flush()
    log.info(
        "model registered",
        extra={"kind": kind, "version": version.id, "active": activate, "compared": comparisons},
    )
    return version


def _recorded_metrics(metrics: dict, comparisons: dict, activated: bool) -> dict:
    champion = {f"champion_{name}": row["champion"] for name, row in comparisons.items()}
    return {**metrics, **champion, "comparisons": comparisons, "activated": activated}


def deactivate_active(kind: str) -> None:
    """Deactivate the active version of `kind`. On PostgreSQL this first takes the kind's
    activation lock until the transaction ends, so a concurrent training activating the same kind
    commits first and is then replaced, instead of both hitting the one-active unique index;
    on SQLite the database-wide write lock already serialises writers."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :kind)"),
            {"space": ACTIVATION_LOCK_SPACE, "kind": MODEL_KINDS.index(kind)},
        )
    db.session.execute(
        update(ModelVersion)
        .where(ModelVersion.kind == kind, ModelVersion.active.is_(True))
        .values(active=False)
    )
