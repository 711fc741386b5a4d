"""Daily usage from a SQL source (a PostgreSQL warehouse, read-only) and from a CSV file."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, func, make_url, select, text
from sqlalchemy.pool import NullPool

from cs_platform.extensions import db
from integrations.connectors.warehouse import UnsafeSourceError, check_source_url
from integrations.models import Connection, UnmatchedRecord, UsageDaily
from integrations.sync import run_sync
from integrations.usage import write_usage
from tests.conftest import postgres_server_url
from tests.factories import AccountFactory, ExternalIdFactory


@pytest.fixture
def on_postgres() -> None:
    """Skip on SQLite: SQL sources are PostgreSQL databases."""
    if postgres_server_url() is None:
        pytest.skip("SQL sources are PostgreSQL databases; set TEST_DATABASE_URL (CI does)")


@pytest.fixture
def warehouse_url(on_postgres, scratch_database_url) -> str:
    """An empty PostgreSQL database next to the app's: the team's warehouse."""
    return scratch_database_url()


def warehouse(url: str, rows: list[tuple]) -> str:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(text(
            "CREATE TABLE usage_rollup (domain TEXT, day DATE, active_users INT, events INT, "
            "features_used INT)"))  # fmt: skip
        if rows:
            connection.execute(
                text("INSERT INTO usage_rollup VALUES (:d, :day, :u, :e, :f)"),
                [{"d": d, "day": day, "u": u, "e": e, "f": f} for d, day, u, e, f in rows],
            )
    engine.dispose()
    return url


def usage_rows() -> list[tuple]:
    return db.session.execute(
        select(UsageDaily.account_id, UsageDaily.day, UsageDaily.active_users, UsageDaily.events)
        .order_by(UsageDaily.day)
    ).all()  # fmt: skip


@pytest.mark.postgres
def test_sql_source_loads_daily_usage_and_queues_what_it_cannot_match(
    warehouse_url, make_connection
):
    acme = AccountFactory(domain="acme.example")
    url = warehouse(warehouse_url, [
        ("acme.example", "2026-03-01", 5, 120, 4),
        ("https://www.acme.example", "2026-03-02", 6, 130, 5),
        ("unknown.example", "2026-03-02", 1, 2, 1),
        ("acme.example", "2999-01-01", 1, 1, 1),
    ])  # fmt: skip
    connection = make_connection("sql", "", {"url": url})

    run = run_sync(connection)

    assert run.status == "succeeded", run.error
    assert (run.fetched, run.updated, run.unmatched, run.failed) == (4, 2, 1, 1)
    assert usage_rows() == [(acme.id, dt.date(2026, 3, 1), 5, 120),
                            (acme.id, dt.date(2026, 3, 2), 6, 130)]  # fmt: skip
    reasons = {r.kind for r in db.session.scalars(select(UnmatchedRecord))}
    assert reasons == {"unmatched", "invalid"}


@pytest.mark.postgres
def test_sql_source_rereads_from_the_last_day_it_saw(warehouse_url, make_connection):
    AccountFactory(domain="acme.example")
    url = warehouse(warehouse_url, [("acme.example", "2026-03-01", 5, 120, 4)])
    connection = make_connection("sql", "", {"url": url})
    run_sync(connection)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("UPDATE usage_rollup SET events = 150"))
        conn.execute(
            text("INSERT INTO usage_rollup VALUES ('acme.example', '2026-02-01', 1, 1, 1)")
        )
    engine.dispose()

    second = run_sync(connection)

    assert second.fetched == 1  # the last day again; the older, late row is not re-read
    assert [row[3] for row in usage_rows()] == [150]


@pytest.mark.postgres
def test_sql_source_rows_sit_beside_the_other_sources_rows_under_its_source_setting(
    warehouse_url, make_connection
):
    acme = AccountFactory(domain="acme.example")
    write_usage([{"account_id": acme.id, "day": dt.date(2026, 3, 1), "active_users": 28,
                  "events": 20, "features_used": 3, "feature_counts": None}], "csv")  # fmt: skip
    url = warehouse(warehouse_url, [("acme.example", "2026-03-01", 5, 120, 4)])
    lake = make_connection("sql", "", {"url": url}, name="lake", settings={"source": "snowflake"})
    main = make_connection("sql", "", {"url": url}, name="warehouse")

    runs = [run_sync(lake), run_sync(main)]

    assert [run.status for run in runs] == ["succeeded", "succeeded"]

    sources = select(UsageDaily.source, UsageDaily.active_users).order_by(UsageDaily.source)
    assert db.session.execute(sources).all() == [("csv", 28), ("snowflake", 5), ("warehouse", 5)]


def test_an_unreachable_sql_source_fails_the_run_with_the_reason(make_connection):
    connection = make_connection("sql", "", {"url": "postgresql://reader@127.0.0.1:9/warehouse"})

    run = run_sync(connection)

    assert run.status == "failed"
    assert "SQL source failed" in run.error
    assert connection.status == "failing"


@pytest.mark.parametrize(
    "url", ["sqlite:///{tmp}/created.db", "sqlite://", "mysql://root@127.0.0.1/test", "nonsense"]
)
def test_a_sql_source_that_is_not_postgresql_is_refused_and_creates_no_file(
    tmp_path, make_connection, url
):
    connection = make_connection("sql", "", {"url": url.format(tmp=tmp_path)})

    run = run_sync(connection)

    assert run.status == "failed"
    assert "postgresql://" in run.error or "malformed" in run.error
    assert list(tmp_path.iterdir()) == []


def test_the_apps_own_database_is_refused_as_a_sql_source(app, make_connection):
    own = app.config["SQLALCHEMY_DATABASE_URI"].replace("127.0.0.1", "localhost")
    if not own.startswith("postgresql"):
        own = "postgresql://postgres@localhost/" + make_url(own).database
        app_url = own
    else:
        app_url = app.config["SQLALCHEMY_DATABASE_URI"]
    with pytest.raises(UnsafeSourceError, match="app's own database"):
        check_source_url(own, app_url)


@pytest.mark.parametrize(
    "query",
    ["hostaddr=127.0.0.1", "host=127.0.0.1", "dbname=test", "service=app",
     "options=-c%20default_transaction_read_only%3Doff"],
)  # fmt: skip
def test_a_sql_source_url_may_not_move_its_host_database_or_settings_in_the_query(query):
    url = f"postgresql://reader@warehouse.example/analytics?{query}"

    with pytest.raises(UnsafeSourceError, match="may not set"):
        check_source_url(url, "postgresql://app@db.example/app")


def test_a_sql_source_url_keeps_its_tls_settings():
    check_source_url(
        "postgresql://reader@warehouse.example/analytics?sslmode=verify-full&connect_timeout=5",
        "postgresql://app@db.example/app",
    )


@pytest.mark.postgres
def test_the_apps_own_database_under_another_address_is_refused_once_connected(
    app, on_postgres, make_connection
):
    alias = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(host="0.0.0.0")  # noqa: S104
    url = alias.render_as_string(hide_password=False)
    query = "SELECT key_hash AS domain FROM api_keys"
    connection = make_connection("sql", "", {"url": url}, settings={"query": query})

    run = run_sync(connection)

    assert run.status == "failed"
    assert "app's own database" in run.error
    assert db.session.scalar(select(func.count()).select_from(UnmatchedRecord)) == 0


@pytest.mark.parametrize(
    ("url", "reason"),
    [("sqlite:///{tmp}/created.db", "only postgresql:// sources"),
     ("postgresql://reader@warehouse.example/db?hostaddr=127.0.0.1", "may not set hostaddr")],
)  # fmt: skip
def test_the_sql_source_form_refuses_an_unsafe_url_with_the_reason_on_the_page(
    make_user, login, tmp_path, url, reason
):
    client = login(make_user("admin"))
    form = {"name": "Warehouse", "url": url.format(tmp=tmp_path), "settings": "{}",
            "interval_minutes": "60", "request_budget": "100", "enabled": "y"}  # fmt: skip

    response = client.post("/integrations/new/sql", data=form)

    assert response.status_code == 400
    assert reason in response.text
    assert db.session.scalar(select(Connection)) is None
    assert list(tmp_path.iterdir()) == []


WRITES = {
    "nextval": "PERFORM nextval('counter')",
    "insert": "INSERT INTO usage_rollup (domain) VALUES ('stolen.example')",
    "update": "UPDATE usage_rollup SET events = 0",
    "create": "CREATE TABLE stolen (secret TEXT)",
}


@pytest.mark.postgres
@pytest.mark.parametrize("statement", WRITES.values(), ids=WRITES.keys())
def test_a_sql_source_query_cannot_write_even_through_a_function(
    warehouse_url, make_connection, statement
):
    url = warehouse(warehouse_url, [("acme.example", "2026-03-01", 1, 7, 1)])
    scalar_from(url, "CREATE SEQUENCE counter")
    scalar_from(url, "CREATE FUNCTION sneak() RETURNS int LANGUAGE plpgsql AS "
                     f"$$ BEGIN {statement}; RETURN 1; END $$")  # fmt: skip
    query = "SELECT domain, day, active_users, sneak() AS events FROM usage_rollup"
    connection = make_connection("sql", "", {"url": url}, settings={"query": query})

    run = run_sync(connection)

    assert run.status == "failed"
    assert "read-only transaction" in run.error
    assert scalar_from(url, "SELECT string_agg(domain || events, ',') FROM usage_rollup") == (
        "acme.example7"
    )
    assert scalar_from(url, "SELECT to_regclass('stolen') IS NULL")
    assert scalar_from(url, "SELECT last_value FROM counter") == 1  # never called: still 1


@pytest.mark.postgres
def test_a_sql_source_query_is_one_statement(warehouse_url, make_connection):
    url = warehouse(warehouse_url, [])
    query = "SELECT 1; COMMIT; SET default_transaction_read_only = off; DROP TABLE usage_rollup"
    connection = make_connection("sql", "", {"url": url}, settings={"query": query})

    run = run_sync(connection)

    assert run.status == "failed"
    assert scalar_from(url, "SELECT count(*) FROM usage_rollup") == 0  # the table is still there


@pytest.mark.postgres
def test_a_slow_sql_source_query_is_stopped_by_the_statement_timeout(
    app, warehouse_url, make_connection, monkeypatch
):
    monkeypatch.setitem(app.config, "WAREHOUSE_STATEMENT_TIMEOUT_SECONDS", 1)
    query = "SELECT 'acme.example' AS domain, current_date AS day, 1 AS active_users, " \
        "1 AS events FROM pg_sleep(5)"  # fmt: skip
    connection = make_connection("sql", "", {"url": warehouse_url}, settings={"query": query})

    run = run_sync(connection)

    assert run.status == "failed"
    assert "statement timeout" in run.error


@pytest.mark.postgres
def test_a_sql_source_past_the_row_limit_fails_with_a_message(
    app, warehouse_url, make_connection, monkeypatch
):
    monkeypatch.setitem(app.config, "WAREHOUSE_MAX_ROWS", 2)
    AccountFactory(domain="acme.example")
    url = warehouse(warehouse_url, [("acme.example", f"2026-03-0{d}", 1, 1, 1) for d in (1, 2, 3)])
    connection = make_connection("sql", "", {"url": url})

    run = run_sync(connection)

    assert run.status == "failed"
    assert "more than 2 rows" in run.error


def scalar_from(url: str, sql: str) -> object:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        result = connection.execute(text(sql))
        value = result.scalar() if result.returns_rows else None
    engine.dispose()
    return value


def test_csv_import_upserts_usage_and_reports_bad_and_unmatched_lines(runner, tmp_path):
    acme = AccountFactory(domain="acme.example")
    other = AccountFactory(domain="other.example")
    ExternalIdFactory(account=other)
    path = tmp_path / "usage.csv"
    path.write_text(
        "domain,account_id,day,active_users,events,features_used\n"
        "acme.example,,2026-03-01,4,40,3\n"
        f",{other.id},2026-03-01,2,20,1\n"
        "nobody.example,,2026-03-01,1,1,1\n"
        "acme.example,,03/01/2026,1,1,1\n"
        "acme.example,,2026-03-02,-3,1,1\n"
    )

    result = runner.invoke(args=["integrations", "import-usage", str(path)])

    assert result.exit_code == 0, result.output
    assert "imported 2 row(s), skipped 3" in result.output
    assert "line 4: no account matches" in result.output
    assert "line 5: day is not a date" in result.output
    assert "line 6: active_users is not a whole number" in result.output
    assert {(a, e) for a, _, _, e in usage_rows()} == {(acme.id, 40), (other.id, 20)}


def test_csv_import_names_missing_columns(runner, tmp_path):
    path = tmp_path / "usage.csv"
    path.write_text("domain,day\nacme.example,2026-03-01\n")

    result = runner.invoke(args=["integrations", "import-usage", str(path)])

    assert "missing column(s): active_users, events" in result.output
