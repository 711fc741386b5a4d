"""Daily usage from a SQL source (any SQLAlchemy URL) and from a CSV file."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from cs_platform.extensions import db
from integrations.models import UnmatchedRecord, UsageDaily
from integrations.sync import run_sync
from tests.factories import AccountFactory, ExternalIdFactory


def warehouse(tmp_path, rows: list[tuple]) -> str:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(text(
            "CREATE TABLE usage_rollup (domain TEXT, day DATE, active_users INT, events INT, "
            "features_used INT)"))  # fmt: skip
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


def test_sql_source_loads_daily_usage_and_queues_what_it_cannot_match(tmp_path, make_connection):
    acme = AccountFactory(domain="acme.example")
    url = warehouse(tmp_path, [
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


def test_sql_source_rereads_from_the_last_day_it_saw(tmp_path, make_connection):
    AccountFactory(domain="acme.example")
    url = warehouse(tmp_path, [("acme.example", "2026-03-01", 5, 120, 4)])
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


def test_an_unreachable_sql_source_fails_the_run_with_the_reason(tmp_path, make_connection):
    connection = make_connection("sql", "", {"url": f"sqlite:///{tmp_path}/missing/x.db"})

    run = run_sync(connection)

    assert run.status == "failed"
    assert "SQL source failed" in run.error
    assert connection.status == "failing"


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
