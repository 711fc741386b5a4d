"""The API's single reads on PostgreSQL run on the driver connection in autocommit and give the
connection back to the pool as its other users expect it: transactional, or invalidated when it
broke."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import literal, literal_column, select

from cs_platform.api.services import single_read
from cs_platform.extensions import db


@pytest.fixture
def handed_out(app, monkeypatch) -> list[psycopg.Connection]:
    """The driver connections that single_read checks out, in order."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads in the session")
    connections: list[psycopg.Connection] = []
    check_out = db.engine.raw_connection

    def recorded():
        pooled = check_out()
        connections.append(pooled.driver_connection)
        return pooled

    monkeypatch.setattr(db.engine, "raw_connection", recorded)
    return connections


def test_a_single_read_hands_back_a_transactional_connection(handed_out):
    row = single_read(select(literal(7).label("seven")), {})
    assert row == {"seven": 7}
    driver = handed_out[0]
    assert driver.autocommit is False
    assert driver.info.transaction_status == TransactionStatus.IDLE


def test_a_failed_single_read_still_restores_the_connection(handed_out):
    with pytest.raises(psycopg.errors.DivisionByZero):
        single_read(select(literal_column("1 / 0")), {})
    assert handed_out[0].autocommit is False
    assert not handed_out[0].broken
