"""What is counted in process for Prometheus: HTTP requests (by URL rule, never the raw path)
and ingested events. Under gunicorn the counts go through prometheus_client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR: one file per worker, summed at scrape time); without the variable
(the dev server, tests) they live in this process's memory. `cs_platform/prometheus_routes.py`
serves them at /metrics with the figures read from the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from flask import Flask, request
from prometheus_client import Counter, Histogram, disable_created_metrics

URL_RULE_KEY = "cs_platform.url_rule"
UNMATCHED = "unmatched"  # 404s and 405s have no rule; the raw path never becomes a label
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# The same series in both modes: multiprocess mode has no `_created` samples.
disable_created_metrics()
HTTP_REQUESTS = Counter(
    "cs_http_requests",
    "HTTP requests by method, URL rule and status class.",
    ["method", "endpoint", "status_class"],
    registry=None,
)
HTTP_ERRORS = Counter(
    "cs_http_request_errors",
    "HTTP requests answered 5xx or ended by an unhandled exception, by method and URL rule.",
    ["method", "endpoint"],
    registry=None,
)
HTTP_DURATION = Histogram(
    "cs_http_request_duration_seconds",
    "Time until the response starts, by URL rule.",
    ["endpoint"],
    registry=None,
)
INGESTED_EVENTS = Counter(
    "cs_ingest_events",
    "Segment-style events as answered to the sender: accepted or rejected, by source.",
    ["source", "outcome"],
    registry=None,
)
IN_PROCESS_METRICS = (HTTP_REQUESTS, HTTP_ERRORS, HTTP_DURATION, INGESTED_EVENTS)


def install_request_metrics(app: Flask) -> None:
    """Count and time every request by its URL rule, the raw path never (no ids or tokens)."""
    app.teardown_request(remember_url_rule)
    app.wsgi_app = RequestMetricsMiddleware(app.wsgi_app)  # type: ignore[method-assign]


def remember_url_rule(_error: BaseException | None = None) -> None:
    """Leave the matched rule in the WSGI environ, where the middleware reads it afterwards."""
    rule = request.url_rule
    request.environ[URL_RULE_KEY] = rule.rule if rule is not None else UNMATCHED


class RequestMetricsMiddleware:
    """Times the app and reads the status it starts; an exception that escapes counts as 500.
    A streamed body is not waited for: the time is until the response starts."""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        statuses: list[int] = []

        def capture_status(status: str, headers: list, exc_info=None):
            statuses.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, capture_status)
        except Exception:
            statuses.append(500)
            raise
        finally:
            endpoint = environ.get(URL_RULE_KEY, UNMATCHED)
            method = environ.get("REQUEST_METHOD", "")
            record_request(method, endpoint, statuses[-1] if statuses else 500, started)


def record_request(method: str, endpoint: str, status: int, started: float) -> None:
    """One request in the HTTP counters and the latency histogram."""
    method = method if method in HTTP_METHODS else "other"  # any verb may arrive: bound labels
    HTTP_REQUESTS.labels(method, endpoint, f"{status // 100}xx").inc()
    HTTP_DURATION.labels(endpoint).observe(time.perf_counter() - started)
    if status >= 500:
        HTTP_ERRORS.labels(method, endpoint).inc()


def count_ingested_events(source: str, accepted: int, rejected: int) -> None:
    """A Segment-style request's events as answered to its sender, by source connection name."""
    INGESTED_EVENTS.labels(source, "accepted").inc(accepted)
    INGESTED_EVENTS.labels(source, "rejected").inc(rejected)
