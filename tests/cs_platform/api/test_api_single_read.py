"""The API's single reads on PostgreSQL run on a connection each thread keeps for them, in
autocommit and outside the pool: no check-out, no pre-ping. A failed statement leaves that
connection serving; one the server dropped is replaced and the read answered all the same."""

from __future__ import annotations

import psycopg
import pytest
import requests
from psycopg.pq import TransactionStatus
from sqlalchemy import literal, literal_column, select, text

from cs_platform.api.reads import read_connection, single_read
from cs_platform.extensions import db
from tests.factories import HealthScoreFactory

SEVEN = select(literal(7).label("seven"))


@pytest.fixture
def postgres(app) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads in the session")


def test_single_reads_share_one_autocommit_connection_outside_the_pool(postgres):
    checked_out = db.engine.pool.checkedout()
    assert single_read(SEVEN, {}) == {"seven": 7}
    driver = read_connection(db.engine)
    assert single_read(SEVEN, {}) == {"seven": 7}
    assert read_connection(db.engine) is driver
    assert driver.autocommit is True
    assert driver.info.transaction_status == TransactionStatus.IDLE
    assert db.engine.pool.checkedout() == checked_out


def test_a_failed_statement_leaves_the_connection_serving(postgres):
    driver = read_connection(db.engine)
    with pytest.raises(psycopg.errors.DivisionByZero):
        single_read(select(literal_column("1 / 0")), {})
    assert single_read(SEVEN, {}) == {"seven": 7}
    assert read_connection(db.engine) is driver


def test_a_read_whose_connection_the_server_dropped_runs_on_a_fresh_one(postgres):
    dropped = read_connection(db.engine)
    with db.engine.connect() as connection:
        pid = dropped.info.backend_pid
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    assert single_read(SEVEN, {}) == {"seven": 7}
    assert dropped.closed
    assert read_connection(db.engine).info.backend_pid != pid


def test_a_read_with_a_key_the_process_has_checked_opens_no_session(
    postgres, live_api, auth_headers, monkeypatch
):
    score = HealthScoreFactory()
    db.session.commit()
    url, headers = f"{live_api}/api/v1/accounts/{score.account_id}/health", auth_headers()
    assert requests.get(url, headers=headers, timeout=10).status_code == 200  # key now cached
    sessions_made = []
    make_session = db.session.registry.createfunc
    monkeypatch.setattr(
        db.session.registry, "createfunc", lambda: sessions_made.append(1) or make_session()
    )
    answer = requests.get(url, headers=headers, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["score"] == score.score
    assert sessions_made == []
    assert "Set-Cookie" not in answer.headers
    assert "Cookie" in answer.headers["Vary"]
