"""Liveness and readiness probes."""

from __future__ import annotations

import datetime as dt

import pytest
from flask_migrate import stamp
from sqlalchemy import text

from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.scheduler import SchedulerLease, heartbeat


@pytest.fixture
def migrations_current(app):
    """Mark the test database as migrated to the newest revision, for one test."""
    stamp()
    yield
    with db.engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))


def test_healthz_answers_while_the_process_is_up(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_is_not_ready_while_migrations_are_behind(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"]["ok"] is True
    assert response.json["checks"]["migrations"]["ok"] is False


def test_readyz_is_ready_when_migrated(client, migrations_current):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["status"] == "ready"


def test_readyz_checks_the_scheduler_lease_when_asked_to(app, client, migrations_current):
    app.config["READY_REQUIRES_SCHEDULER"] = True
    try:
        assert client.get("/readyz").json["checks"]["scheduler"]["ok"] is False
        heartbeat()
        assert client.get("/readyz").status_code == 200
        db.session.get(SchedulerLease, "main").heartbeat_at = utcnow() - dt.timedelta(minutes=5)
        db.session.commit()
        assert client.get("/readyz").status_code == 503
    finally:
        app.config["READY_REQUIRES_SCHEDULER"] = False
