"""Scheduled work of the integrations package: syncs that are due, the usage roll-up.

Raw events are pruned by cs_platform.retention (RAW_USAGE_EVENTS_RETENTION_DAYS)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select

from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.scheduler import JobSpec
from integrations.connectors import CONNECTORS
from integrations.models import Connection, SyncRun
from integrations.sync import run_sync
from integrations.usage import roll_up_all

log = logging.getLogger(__name__)


def due_connections(now: dt.datetime) -> list[Connection]:
    """Enabled connections whose last run started at least their interval ago (or never ran)."""
    last_start = (
        select(SyncRun.connection_id, func.max(SyncRun.started_at).label("started"))
        .group_by(SyncRun.connection_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Connection, last_start.c.started)
        .outerjoin(last_start, last_start.c.connection_id == Connection.id)
        .where(Connection.enabled.is_(True), Connection.kind.in_(CONNECTORS))
        .order_by(Connection.id)
    ).all()
    return [
        connection
        for connection, started in rows
        if started is None or started <= now - dt.timedelta(minutes=connection.interval_minutes)
    ]


def sync_due_connections() -> None:
    """Run every connection whose interval has passed (each run commits as it goes)."""
    for connection in due_connections(utcnow()):
        run_sync(connection)


def roll_up_usage() -> None:
    """Roll new raw usage events up into UsageDaily."""
    written = roll_up_all()
    if written:
        log.info("usage rolled up", extra={"rows": written})


JOBS = [
    JobSpec("integrations-sync-due", sync_due_connections, "interval",
            {"minutes": 1}, misfire_grace_time=60),
    JobSpec("integrations-usage-rollup", roll_up_usage, "interval",
            {"minutes": 5}, misfire_grace_time=300),
]  # fmt: skip
