"""Prometheus metrics at /metrics.

Most figures are read from the database at scrape time, so every web worker, scheduler and
outbox worker on every machine agrees on them. Only what no table holds is counted in process,
by `cs_platform/request_metrics.py`: HTTP requests and ingested events.
"""

from __future__ import annotations

import hmac
import importlib.metadata
import ipaddress
import os
import platform
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select

from cs_platform.extensions import db, limiter
from cs_platform.models import utcnow
from cs_platform.outbox import OutboxMessage
from cs_platform.request_metrics import IN_PROCESS_METRICS
from cs_platform.webhooks.models import WebhookDelivery
from integrations.models import RUN_STATUSES, Connection, RawUsageEvent, SyncRun
from scoring.models import HealthScore, ScoringRun

bp = Blueprint("metrics", __name__)
SYNC_COUNTS = ("fetched", "created", "updated", "unmatched", "failed")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


class DatabaseCollector:
    """Outbox, sync, ingestion, webhook and scoring figures, each from one grouped query."""

    def collect(self) -> Iterator[Metric]:
        yield from outbox_metrics()
        yield from sync_metrics()
        yield from usage_event_metrics()
        yield from webhook_metrics()
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
    """Finished runs only grow (counters); runs in progress come and go (a gauge)."""
    counts = dict.fromkeys(RUN_STATUSES, 0)
    counts.update(
        db.session.execute(select(SyncRun.status, func.count()).group_by(SyncRun.status)).all()
    )
    yield GaugeMetricFamily(
        "cs_sync_runs_running", "Integration sync runs in progress.", value=counts.pop("running")
    )
    finished = CounterMetricFamily(
        "cs_sync_runs", "Finished integration sync runs by status.", labels=["status"]
    )
    for status, count in counts.items():
        finished.add_metric([status], count)
    yield finished
    records = CounterMetricFamily(
        "cs_sync_records", "Records handled by all sync runs, by outcome.", labels=["outcome"]
    )
    sums = db.session.execute(
        select(*(func.coalesce(func.sum(getattr(SyncRun, name)), 0) for name in SYNC_COUNTS))
    ).one()
    for name, total in zip(SYNC_COUNTS, sums, strict=True):
        records.add_metric([name], float(total))
    yield records


def usage_event_metrics() -> Iterator[Metric]:
    """Raw events each Segment-style source has sent that no roll-up has claimed yet."""
    waiting = GaugeMetricFamily(
        "cs_usage_events_awaiting_rollup",
        "Segment-style events received but not yet rolled up, by source.",
        labels=["source"],
    )
    rows = db.session.execute(
        select(Connection.name, func.count())
        .join(RawUsageEvent, RawUsageEvent.connection_id == Connection.id)
        .where(RawUsageEvent.rollup_batch.is_(None))
        .group_by(Connection.name)
    )
    for source, count in rows:
        waiting.add_metric([source], count)
    yield waiting


def webhook_metrics() -> Iterator[Metric]:
    """Deliveries per endpoint and status. A gauge, not a counter: replays turn failed ones back
    to pending and retention deletes finished ones, so these counts can fall."""
    deliveries = GaugeMetricFamily(
        "cs_webhook_deliveries",
        "Stored webhook deliveries by endpoint and status (pending: still being tried; failed: "
        "retries used up or endpoint disabled).",
        labels=["endpoint_id", "status"],
    )
    rows = db.session.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count()).group_by(
            WebhookDelivery.endpoint_id, WebhookDelivery.status
        )
    )
    for endpoint_id, status, count in rows:
        deliveries.add_metric([str(endpoint_id), status], count)
    yield deliveries


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
    runs = db.session.scalar(select(func.count()).select_from(ScoringRun))
    last = db.session.execute(
        select(ScoringRun.duration_seconds, ScoringRun.quarantined)
        .order_by(ScoringRun.finished_at.desc(), ScoringRun.id.desc())
        .limit(1)
    ).first()
    yield CounterMetricFamily("cs_scoring_runs", "Completed scoring runs.", value=runs)
    duration = GaugeMetricFamily(
        "cs_scoring_last_run_duration_seconds", "How long the latest scoring run took."
    )
    quarantined = GaugeMetricFamily(
        "cs_scoring_last_run_quarantined_accounts",
        "Accounts the latest scoring run left out because their data cannot be scored "
        "(listed to admins on the scorecard page); alert above 0.",
    )
    if last is not None:
        duration.add_metric([], last.duration_seconds)
    quarantined.add_metric([], last.quarantined if last is not None else 0)
    yield duration
    yield quarantined


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
    return Response(generate_latest(scrape_registry()), mimetype=CONTENT_TYPE_LATEST)


def scrape_registry() -> CollectorRegistry:
    """The database figures, build info, this process's figures (under gunicorn: whichever
    worker answers) and the in-process counts: every worker's in multiprocess mode."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector())
    registry.register(BuildInfoCollector())
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    multiproc_dir = os.environ.get(MULTIPROC_DIR)
    if multiproc_dir:
        MultiProcessCollector(registry, path=multiproc_dir)
    else:
        for in_process in IN_PROCESS_METRICS:
            registry.register(in_process)
    return registry


class BuildInfoCollector:
    """`cs_build_info{version, python} 1`: which release and Python answer."""

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "cs_build_info", "The running release and Python version.", labels=["version", "python"]
        )
        info.add_metric([project_version(), platform.python_version()], 1)
        yield info


@cache
def project_version() -> str:
    """The installed package's version, else the checkout's pyproject.toml version."""
    try:
        return importlib.metadata.version("cs-platform")
    except importlib.metadata.PackageNotFoundError:
        with (PROJECT_ROOT / "pyproject.toml").open("rb") as pyproject:
            return tomllib.load(pyproject)["project"]["version"]


def direct_loopback_request() -> bool:
    """From this machine and not relayed by a proxy (a local reverse proxy's requests come from
    loopback too, but carry X-Forwarded-For or Forwarded)."""
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
    relayed = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    return loopback and not relayed
