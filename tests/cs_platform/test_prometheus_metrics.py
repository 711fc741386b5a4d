"""Prometheus metrics: figures read from the database, HTTP and ingestion counts, build info."""

from __future__ import annotations

import base64
import datetime as dt
import platform
import tomllib
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from cs_platform.auth.services import create_api_key
from cs_platform.extensions import db
from cs_platform.models import Account, utcnow
from cs_platform.outbox import OutboxMessage
from cs_platform.webhooks.models import WebhookDelivery, WebhookEndpoint
from integrations.models import Connection, SyncRun
from integrations.usage import hash_write_key
from scoring.runs import score_accounts
from tests.factories import AccountFactory
from tests.scoring.conftest import write_book

ACCOUNT_RULE = "/api/v1/accounts/<int:account_id>"
EXPECTED_TYPES = {
    "cs_outbox_messages": "gauge",
    "cs_outbox_oldest_pending_age_seconds": "gauge",
    "cs_sync_runs_running": "gauge",
    "cs_sync_runs": "counter",
    "cs_sync_records": "counter",
    "cs_usage_events_awaiting_rollup": "gauge",
    "cs_webhook_deliveries": "gauge",
    "cs_health_scores_age_seconds": "gauge",
    "cs_scored_accounts": "gauge",
    "cs_scoring_runs": "counter",
    "cs_scoring_last_run_duration_seconds": "gauge",
    "cs_scoring_last_run_quarantined_accounts": "gauge",
    "cs_build_info": "gauge",
    "cs_http_requests": "counter",
    "cs_http_request_errors": "counter",
    "cs_http_request_duration_seconds": "histogram",
    "cs_ingest_events": "counter",
    "process_cpu_seconds": "counter",
    "process_resident_memory_bytes": "gauge",
    "python_info": "gauge",
}


def scrape(client: FlaskClient) -> dict:
    """The exposition at /metrics, parsed by prometheus_client: families by name."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def sample(families: dict, sample_name: str, **labels: str) -> float:
    """The value of the sample with exactly these labels; 0 when there is none."""
    family_name = sample_name.removesuffix("_total").removesuffix("_count")
    for found in families[family_name].samples:
        if found.name == sample_name and found.labels == labels:
            return found.value
    return 0.0


def add_message(kind: str, status: str, age_minutes: int, key: str) -> None:
    created = utcnow() - dt.timedelta(minutes=age_minutes)
    db.session.add(
        OutboxMessage(kind=kind, payload={}, dedupe_key=key, status=status, created_at=created)
    )


def test_metrics_count_outbox_messages_and_the_age_of_the_oldest_pending(client):
    add_message("email", "pending", 10, "a")
    add_message("email", "sent", 30, "b")
    add_message("webhook", "failed", 5, "c")
    db.session.commit()
    body = client.get("/metrics").text
    assert 'cs_outbox_messages{kind="email",status="pending"} 1.0' in body
    assert 'cs_outbox_messages{kind="webhook",status="failed"} 1.0' in body
    age_line = next(
        line for line in body.splitlines() if line.startswith("cs_outbox_oldest_pending_age")
    )
    assert 590 <= float(age_line.split()[-1]) <= 660


def test_metrics_need_the_token_when_one_is_configured(app, client):
    app.config["METRICS_TOKEN"] = "s3cret-token"
    try:
        assert client.get("/metrics").status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
    finally:
        app.config["METRICS_TOKEN"] = ""


@pytest.mark.parametrize(
    ("remote_addr", "headers"),
    [("203.0.113.9", {}), ("10.0.0.7", {}), ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"})],
)
def test_metrics_without_a_token_answer_only_a_scraper_on_this_machine(
    client, remote_addr, headers
):
    response = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": remote_addr})

    assert response.status_code == 403
    assert "METRICS_TOKEN" in response.text


def test_metrics_without_a_token_answer_loopback_over_ipv6(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def metric(body: str, name: str) -> float | None:
    """The value of the sample `name` (no labels), None when there is no sample."""
    values = [line.split()[-1] for line in body.splitlines() if line.startswith(f"{name} ")]
    return float(values[0]) if values else None


def test_metrics_show_the_last_scoring_runs_duration_and_the_count_of_runs(client):
    day = write_book(accounts=12)
    before = client.get("/metrics").text
    assert metric(before, "cs_scoring_runs_total") == 0
    assert metric(before, "cs_scoring_last_run_duration_seconds") is None  # no run yet

    score_accounts(day - dt.timedelta(days=1))
    db.session.commit()
    last = score_accounts(day)
    db.session.commit()

    body = client.get("/metrics").text
    assert metric(body, "cs_scoring_runs_total") == 2
    assert metric(body, "cs_scoring_last_run_duration_seconds") == pytest.approx(last.seconds)


def test_every_family_has_help_and_its_type_and_only_counters_end_in_total(client):
    body = client.get("/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(body)}

    assert {name: families[name].type for name in EXPECTED_TYPES} == EXPECTED_TYPES
    for family in families.values():
        assert family.documentation, family.name
        if family.type == "counter":
            assert f"# TYPE {family.name}_total counter" in body
        else:
            assert not family.name.endswith("_total"), family.name


def test_build_info_names_the_projects_version_and_python(client):
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    version = tomllib.loads(pyproject.read_text())["project"]["version"]

    info = scrape(client)["cs_build_info"].samples

    assert [(s.labels, s.value) for s in info] == [
        ({"version": version, "python": platform.python_version()}, 1.0)
    ]


def test_a_request_is_counted_under_its_url_rule_and_never_its_raw_path(client):
    account = AccountFactory(id=73519)
    _, key = create_api_key("dashboard test", ["read:scores"])
    db.session.commit()
    labels = {"method": "GET", "endpoint": ACCOUNT_RULE, "status_class": "2xx"}
    before = scrape(client)

    response = client.get(
        f"/api/v1/accounts/{account.id}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200

    after = scrape(client)
    requests = "cs_http_requests_total"
    assert sample(after, requests, **labels) == sample(before, requests, **labels) + 1
    timed = "cs_http_request_duration_seconds_count"
    assert (
        sample(after, timed, endpoint=ACCOUNT_RULE)
        == sample(before, timed, endpoint=ACCOUNT_RULE) + 1
    )
    assert "73519" not in client.get("/metrics").text


def test_a_path_without_a_rule_is_counted_as_unmatched_without_its_path(client):
    labels = {"method": "GET", "endpoint": "unmatched", "status_class": "4xx"}
    before = sample(scrape(client), "cs_http_requests_total", **labels)

    assert client.get("/no/such/page/tok_8c1f2e").status_code == 404

    assert sample(scrape(client), "cs_http_requests_total", **labels) == before + 1
    assert "tok_8c1f2e" not in client.get("/metrics").text


def test_an_unknown_http_method_is_counted_as_other(client):
    labels = {"method": "other", "endpoint": "unmatched", "status_class": "4xx"}
    before = sample(scrape(client), "cs_http_requests_total", **labels)

    client.open("/healthz", method="BREW")

    assert sample(scrape(client), "cs_http_requests_total", **labels) == before + 1


def test_a_500_increments_the_error_counter_of_its_rule(app, client, monkeypatch):
    def broken_probe():
        raise RuntimeError("probe broke")

    monkeypatch.setitem(app.view_functions, "health.healthz", broken_probe)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # answered as in production
    errors = {"method": "GET", "endpoint": "/healthz"}
    before = scrape(client)

    assert client.get("/healthz").status_code == 500

    after = scrape(client)
    assert sample(after, "cs_http_request_errors_total", **errors) == (
        sample(before, "cs_http_request_errors_total", **errors) + 1
    )
    server_errors = {**errors, "status_class": "5xx"}
    assert sample(after, "cs_http_requests_total", **server_errors) == (
        sample(before, "cs_http_requests_total", **server_errors) + 1
    )


def test_an_exception_that_escapes_the_app_counts_as_a_500(app, client, monkeypatch):
    def broken_probe():
        raise RuntimeError("probe broke")

    monkeypatch.setitem(app.view_functions, "health.healthz", broken_probe)
    errors = {"method": "GET", "endpoint": "/healthz"}
    before = sample(scrape(client), "cs_http_request_errors_total", **errors)

    with pytest.raises(RuntimeError):  # TESTING propagates exceptions through the middleware
        client.get("/healthz")

    assert sample(scrape(client), "cs_http_request_errors_total", **errors) == before + 1


def test_ingested_events_are_counted_accepted_and_rejected_per_source(client):
    write_key = "wk_metrics_5d1e"
    db.session.add(
        Connection(name="web app", kind="segment", write_key_hash=hash_write_key(write_key))
    )
    db.session.commit()
    good = {"type": "track", "messageId": "m1", "userId": "u1", "event": "Report Exported",
            "timestamp": utcnow().isoformat() + "Z", "context": {"groupId": "acme"}}  # fmt: skip
    bad = {"type": "track", "messageId": "m2", "event": "No user"}
    basic = base64.b64encode(f"{write_key}:".encode()).decode()
    before = scrape(client)

    response = client.post(
        "/v1/batch", json={"batch": [good, bad]}, headers={"Authorization": f"Basic {basic}"}
    )
    assert response.status_code == 400  # one rejected: the sender is told

    after = scrape(client)
    for outcome in ("accepted", "rejected"):
        labels = {"source": "web app", "outcome": outcome}
        assert sample(after, "cs_ingest_events_total", **labels) == (
            sample(before, "cs_ingest_events_total", **labels) + 1
        )
    assert sample(after, "cs_usage_events_awaiting_rollup", source="web app") == 1


def add_endpoint(url: str) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(url=url, event_types=["task.created"], secret_encrypted="unused")
    db.session.add(endpoint)
    db.session.flush()
    return endpoint


def add_deliveries(endpoint: WebhookEndpoint, **counts: int) -> None:
    for status, count in counts.items():
        for number in range(count):
            db.session.add(
                WebhookDelivery(
                    endpoint_id=endpoint.id,
                    message_id=f"msg_{status}_{number}",
                    event_type="task.created",
                    body="{}",
                    status=status,
                )
            )


def test_webhook_deliveries_are_counted_per_endpoint_and_status(client):
    crm, chat = (
        add_endpoint("https://crm.example.com/hook"),
        add_endpoint("https://chat.example.com/hook"),
    )
    add_deliveries(crm, failed=2, succeeded=3, pending=1)
    add_deliveries(chat, succeeded=4)
    db.session.commit()

    families = scrape(client)

    def deliveries(endpoint: WebhookEndpoint, status: str) -> float:
        return sample(
            families, "cs_webhook_deliveries", endpoint_id=str(endpoint.id), status=status
        )

    assert [deliveries(crm, status) for status in ("failed", "succeeded", "pending")] == [2, 3, 1]
    assert [deliveries(chat, status) for status in ("failed", "succeeded", "pending")] == [0, 4, 0]


def test_sync_runs_in_progress_are_a_gauge_and_finished_ones_a_counter(client):
    connection = Connection(name="zendesk", kind="zendesk")
    db.session.add(connection)
    db.session.flush()
    for status, fetched in (("running", 5), ("succeeded", 7), ("succeeded", 3)):
        db.session.add(SyncRun(connection_id=connection.id, status=status, fetched=fetched))
    db.session.commit()

    families = scrape(client)

    assert sample(families, "cs_sync_runs_running") == 1
    assert sample(families, "cs_sync_runs_total", status="succeeded") == 2
    assert sample(families, "cs_sync_runs_total", status="failed") == 0
    assert sample(families, "cs_sync_records_total", outcome="fetched") == 15


def test_metrics_count_the_accounts_the_last_scoring_run_quarantined(client):
    day = write_book(accounts=6)
    assert metric(client.get("/metrics").text, "cs_scoring_last_run_quarantined_accounts") == 0
    account_id = db.session.scalar(select(Account.id).where(Account.churned_at.is_(None)).limit(1))
    db.session.execute(
        update(Account).where(Account.id == account_id).values(renewal_date=dt.date(2300, 1, 1))
    )  # past what scoring can hold, written around the API's checks
    db.session.commit()

    score_accounts(day)
    db.session.commit()

    assert metric(client.get("/metrics").text, "cs_scoring_last_run_quarantined_accounts") == 1
