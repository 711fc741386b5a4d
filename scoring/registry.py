"""The model registry: every trained version with its metrics, features and training time; at
most one active per kind, replaced only by a challenger that is not worse (champion/challenger)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update

from cs_platform.extensions import db
from scoring.health_model import HealthModel
from scoring.models import ModelVersion
from scoring.survival import SurvivalModel

log = logging.getLogger(__name__)

LOADERS = {"health": HealthModel.from_bytes, "survival": SurvivalModel.from_bytes}
# The held-out metric that decides, higher is better.
DECIDING_METRIC = {"health": "auc", "survival": "c_index"}


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


def challenger_wins(challenger: float, champion: float | None) -> bool:
    """A new model replaces the active one unless it scores worse on the same held-out rows."""
    return champion is None or challenger >= champion


def register(
    kind: str,
    artifact: bytes,
    *,
    features: list[str],
    parameters: dict,
    metrics: dict,
    champion_metric: float | None,
) -> ModelVersion:
    """Store a trained version and activate it if it beats (or ties) the champion; flushes."""
    metric = DECIDING_METRIC[kind]
    activate = challenger_wins(metrics[metric], champion_metric)
    version = ModelVersion(
        kind=kind,
        features=features,
        parameters=parameters,
        metrics={**metrics, "champion_" + metric: champion_metric, "activated": activate},
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
        extra={"kind": kind, "version": version.id, "active": activate, metric: metrics[metric]},
    )
    return version
