"""Display-only reads on PostgreSQL run on a connection each thread keeps for them, in
autocommit and outside the pool: no check-out, no pre-ping. They answer what SQLAlchemy would.
A failed statement leaves that connection serving; one the server dropped is replaced and the
read answered all the same."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import literal, literal_column, select, text

from cs_platform import clock
from cs_platform.accounts import queries
from cs_platform.driver_reads import plain_rows, read_connection, single_read
from cs_platform.extensions import db
from integrations.models import UsageDaily
from tests.cs_platform.accounts.workspace_data import scored_account
from tests.factories import (
    ContactFactory,
    SupportTicketFactory,
    SurveyResponseFactory,
    TimelineEntryFactory,
)

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


def test_the_account_pages_plain_reads_answer_what_sqlalchemy_answers(postgres):
    account = scored_account("Globex", days=40)
    ContactFactory(account=account, name="Hank Scorpio", role="champion")
    ContactFactory(account=account, name="Marge", unsubscribed_at=clock.utcnow())
    SupportTicketFactory(account=account, satisfaction="good")
    SupportTicketFactory(account=account, satisfaction=None, subject="Ünïcode <b>")
    SurveyResponseFactory(account=account, comment="Great \N{SNOWMAN}", contact=None)
    TimelineEntryFactory(account=account, body="QBR booked")
    db.session.add_all(
        UsageDaily(account_id=account.id, day=clock.today() - dt.timedelta(days=d), source=s,
                   active_users=d + 3)
        for d in range(70) for s in ("segment", "csv")
    )  # fmt: skip
    db.session.commit()
    statements = queries._statements()
    values = {
        "account_id": account.id,
        "limit": 10,
        "after": clock.today() - dt.timedelta(days=400),
    }
    for name in ("points", "usage", "tickets", "responses", "timeline", "contacts"):
        statement = getattr(statements, name)
        expected = db.session.execute(statement, values).all()
        db.session.rollback()
        answered = plain_rows(statement, values)
        assert expected, name
        assert [tuple(row) for row in answered] == [tuple(row) for row in expected], name
        assert answered[0]._fields == expected[0]._fields, name


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
