"""The model registry: every trained version with its metrics, features and training time; at
most one active per kind, replaced only by a challenger that is not worse on every deciding metric
(champion/challenger): for the health model both ranking (AUC) and calibration (Brier score), since
its probabilities are shown and thresholded, not only ranked."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from cs_platform.extensions import db
from scoring.health_model import HealthModel
from scoring.models import ModelVersion
from scoring.survival import SurvivalModel

log = logging.getLogger(__name__)

LOADERS = {"health": HealthModel.from_bytes, "survival": SurvivalModel.from_bytes}
# How much worse a challenger's held-out Brier score may be: noise between two models that are
# equally calibrated, far less than what a badly calibrated one loses.
BRIER_TOLERANCE = 0.002


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


def register(
    kind: str,
    artifact: bytes,
    *,
    features: list[str],
    parameters: dict,
    metrics: dict,
    champion: dict | None,
) -> ModelVersion:
    """Store a trained version and activate it if it is not worse than the champion (its
    metrics on the challenger's held-out rows) on any deciding metric; flushes. The version's
    metrics keep every comparison, so the registry says why a challenger stayed inactive."""
    comparisons = compare(kind, metrics, champion)
    activate = challenger_wins(comparisons)
    champion_values = {f"champion_{name}": row["champion"] for name, row in comparisons.items()}
    version = ModelVersion(
        kind=kind,
        features=features,
        parameters=parameters,
        metrics={
            **metrics,
            **champion_values,
            "comparisons": comparisons,
            "activated": activate,
        },
        artifact=artifact,
        active=False,
    )
    db.session.add(version)
    db.session.flush()
    if activate:
        db.session.execute(
            update(ModelVersion)
            .where(ModelVersion.kind == kind, ModelVersion.id != version.id)
            .values(active=False)
        )
        version.active = True
    log.info(
        "model registered",
        extra={"kind": kind, "version": version.id, "active": activate, "compared": comparisons},
    )
    return version
