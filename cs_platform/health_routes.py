"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from cs_platform.extensions import db, limiter
from cs_platform.models import utcnow

bp = Blueprint("health", __name__)


@bp.route("/healthz")
@limiter.exempt
def healthz():
    """The process is up and serving requests."""
    return jsonify(status="ok")


@bp.route("/readyz")
@limiter.exempt
def readyz():
    """Ready for traffic: database reachable, migrations current, scheduler lease fresh."""
    checks = {"database": database_check(), "migrations": migrations_check()}
    if current_app.config["READY_REQUIRES_SCHEDULER"]:
        checks["scheduler"] = scheduler_check()
    ready = all(check["ok"] for check in checks.values())
    return jsonify(status="ready" if ready else "not_ready", checks=checks), 200 if ready else 503


def database_check() -> dict:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


def migrations_check() -> dict:
    """The database is at the newest migration of the code that is running."""
    directory = Path(current_app.extensions["migrate"].directory)
    heads = set(ScriptDirectory(str(directory)).get_heads())
    try:
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": current == heads, "current": sorted(current), "expected": sorted(heads)}


def scheduler_check() -> dict:
    """Some scheduler process renewed its lease recently."""
    from cs_platform.scheduler import LEASE_SECONDS, SchedulerLease

    try:
        heartbeat = db.session.scalar(select(SchedulerLease.heartbeat_at))
    except SQLAlchemyError as exc:
        return {"ok": False, "error": type(exc).__name__}
    if heartbeat is None:
        return {"ok": False, "error": "no scheduler has started"}
    age = (utcnow() - heartbeat) / dt.timedelta(seconds=1)
    return {"ok": age <= LEASE_SECONDS, "heartbeat_age_s": round(age, 1)}
