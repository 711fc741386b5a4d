"""Prometheus metrics at /metrics, read from the database at scrape time.

Counting from the tables rather than in process memory gives the same figures from every web
worker, scheduler and outbox worker on every machine, with no multiprocess bookkeeping.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from sqlalchemy import func, select

from cs_platform.extensions import db, limiter
from cs_platform.models import utcnow
from cs_platform.outbox import OutboxMessage
from integrations.models import SyncRun
from scoring.models import HealthScore, ScoringRun

bp = Blueprint("metrics", __name__)
SYNC_COUNTS = ("fetched", "created", "updated", "unmatched", "failed")


class DatabaseCollector:
    """Outbox, sync and scoring figures, each from one grouped query."""

    def collect(self) -> Iterator[Metric]:
        yield from outbox_metrics()
        yield from sync_metrics()
        yield from scoring_metrics()


def outbox_metrics() -> Iterator[Metric]:
    messages = GaugeMetricFamily(
        "cs_outbox_messages", "Outbox messages by kind and status.", labels=["kind", "status"]
    )
    rows = db.session.execute(
        select(OutboxMessage.kind, OutboxMessage.status, func.count()).group_by(
            OutboxMessage.kind, OutboxMessage.status
        )
    )
    for kind, status, count in rows:
        messages.add_metric([kind, status], count)
    yield messages
    oldest = GaugeMetricFamily(
        "cs_outbox_oldest_pending_age_seconds",
        "Age of the oldest message still waiting to be delivered.",
        labels=["kind"],
    )
    now = utcnow()
    pending = db.session.execute(
        select(OutboxMessage.kind, func.min(OutboxMessage.created_at))
        .where(OutboxMessage.status.in_(("pending", "sending")))
        .group_by(OutboxMessage.kind)
    )
    for kind, created_at in pending:
        oldest.add_metric([kind], (now - created_at).total_seconds())
    yield oldest


def sync_metrics() -> Iterator[Metric]:
    runs = GaugeMetricFamily("cs_sync_runs", "Integration sync runs by status.", labels=["status"])
    for status, count in db.session.execute(
        select(SyncRun.status, func.count()).group_by(SyncRun.status)
    ):
        runs.add_metric([status], count)
    yield runs
    records = GaugeMetricFamily(
        "cs_sync_records", "Records handled by all sync runs, by outcome.", labels=["outcome"]
    )
    sums = db.session.execute(
        select(*(func.coalesce(func.sum(getattr(SyncRun, name)), 0) for name in SYNC_COUNTS))
    ).one()
    for name, total in zip(SYNC_COUNTS, sums, strict=True):
        records.add_metric([name], float(total))
    yield records


def scoring_metrics() -> Iterator[Metric]:
    latest = db.session.execute(
        select(func.max(HealthScore.updated_at), func.count(func.distinct(HealthScore.account_id)))
    ).one()
    freshness = GaugeMetricFamily(
        "cs_health_scores_age_seconds", "Seconds since a health score was last written."
    )
    if latest[0] is not None:
        freshness.add_metric([], (utcnow() - latest[0]).total_seconds())
    yield freshness
    yield GaugeMetricFamily(
        "cs_scored_accounts", "Accounts with at least one health score.", value=latest[1]
    )
    yield from scoring_run_metrics()


def scoring_run_metrics() -> Iterator[Metric]:
    """The last scoring run's duration and the count of runs, from ScoringRun (see its docstring
    for why runs are rows rather than an in-process Histogram)."""
    runs, last = db.session.execute(
        select(
            select(func.count()).select_from(ScoringRun).scalar_subquery(),
            select(ScoringRun.duration_seconds)
            .order_by(ScoringRun.finished_at.desc(), ScoringRun.id.desc())
            .limit(1)
            .scalar_subquery(),
        )
    ).one()
    yield CounterMetricFamily("cs_scoring_runs", "Completed scoring runs.", value=runs)
    duration = GaugeMetricFamily(
        "cs_scoring_last_run_duration_seconds", "How long the latest scoring run took."
    )
    if last is not None:
        duration.add_metric([], last)
    yield duration


@bp.route("/metrics")
@limiter.exempt
def metrics() -> Response:
    """Prometheus exposition: `Authorization: Bearer $METRICS_TOKEN` when a token is set; without
    one, only for a scraper on this machine (loopback, not through a proxy)."""
    token = current_app.config["METRICS_TOKEN"]
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            abort(401)
    elif not direct_loopback_request():
        abort(403, "Set METRICS_TOKEN to scrape /metrics from another machine.")
    registry = CollectorRegistry()
    registry.register(DatabaseCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def direct_loopback_request() -> bool:
    """From this machine and not relayed by a proxy (a local reverse proxy's requests come from
    loopback too, but carry X-Forwarded-For or Forwarded)."""
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
    relayed = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    return loopback and not relayed
