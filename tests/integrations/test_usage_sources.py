"""Daily usage is kept per source (events roll-up, CSV import, SQL source), so no writer
overwrites another's day; readers see one figure per day: the largest any source reported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from cs_platform import create_app
from cs_platform.accounts.queries import account_facts, account_usage
from cs_platform.extensions import db
from cs_platform.models import utcnow
from integrations.csv_import import import_usage_csv
from integrations.models import Connection, UsageDaily
from integrations.usage import hash_write_key, ingest_events, roll_up_all, write_usage
from tests.factories import AccountFactory

DAY = utcnow().date() - dt.timedelta(days=1)


@pytest.fixture
def source(make_connection) -> Connection:
    connection = make_connection("segment", "", {}, name="web app")
    connection.write_key_hash = hash_write_key("wk_sources")
    db.session.commit()
    return connection


def roll_up_one_users_track(source: Connection) -> None:
    event = {"type": "track", "messageId": "t1", "userId": "ann", "event": "Report Exported",
             "timestamp": f"{DAY}T10:00:00Z", "context": {"groupId": "acme.example"}}  # fmt: skip
    ingest_events(source, [event])
    roll_up_all()
    db.session.commit()


def import_csv(tmp_path: Path, line: str) -> None:
    path = tmp_path / "usage.csv"
    path.write_text("domain,day,active_users,events,features_used\n" + line + "\n")
    report = import_usage_csv(path)
    db.session.commit()
    assert report.problems == []


def rows_by_source() -> dict[str, tuple[int, int, int]]:
    db.session.expire_all()
    query = select(
        UsageDaily.source, UsageDaily.active_users, UsageDaily.events, UsageDaily.features_used
    )
    return {source: tuple(figures) for source, *figures in db.session.execute(query)}


def combined() -> list[tuple]:
    usage = UsageDaily.combined()
    query = select(usage.c.day, usage.c.active_users, usage.c.events, usage.c.features_used)
    return [tuple(row) for row in db.session.execute(query)]


def test_the_events_roll_up_leaves_the_csv_row_of_the_same_day(source, tmp_path):
    AccountFactory(domain="acme.example")
    import_csv(tmp_path, f"acme.example,{DAY},28,20,3")

    roll_up_one_users_track(source)

    assert rows_by_source() == {"csv": (28, 20, 3), "events": (1, 1, 1)}
    assert combined() == [(DAY, 28, 20, 3)]


def test_a_csv_import_leaves_the_events_row_of_the_same_day(source, tmp_path):
    AccountFactory(domain="acme.example")
    roll_up_one_users_track(source)

    import_csv(tmp_path, f"acme.example,{DAY},28,0,0")

    assert rows_by_source() == {"events": (1, 1, 1), "csv": (28, 0, 0)}
    assert combined() == [(DAY, 28, 1, 1)]


def test_each_combined_figure_is_the_largest_any_source_reported_that_day(app):
    account = AccountFactory()
    other_day = DAY - dt.timedelta(days=1)
    write_usage([usage(account.id, DAY, 28, 20, 3)], "csv")
    write_usage([usage(account.id, DAY, 4, 27, 5), usage(account.id, other_day, 2, 9, 1)], "events")
    write_usage([usage(account.id, DAY, 30, 1, 0)], "warehouse")

    assert sorted(combined()) == [(other_day, 2, 9, 1), (DAY, 30, 27, 5)]


def test_the_account_page_reads_one_combined_figure_per_day(app):
    account = AccountFactory()
    other_day = DAY - dt.timedelta(days=1)
    write_usage([usage(account.id, DAY, 28, 0, 0), usage(account.id, other_day, 10, 0, 0)], "csv")
    write_usage([usage(account.id, DAY, 1, 27, 1)], "events")
    db.session.commit()  # the page reads in its own request

    last_day = account_facts(account.id, DAY).last_usage_day
    page_usage = account_usage(account.id, DAY, last_day)
    assert page_usage.series == [(other_day, 10), (DAY, 28)]
    assert page_usage.summary.active_users_30d == 19.0


def usage(account_id: int, day: dt.date, users: int, events: int, features: int) -> dict:
    return {"account_id": account_id, "day": day, "active_users": users, "events": events,
            "features_used": features, "feature_counts": None}  # fmt: skip


# Migration 0009: rows from before it become the source "imported"; a downgrade keeps one row
# per (account, day) holding the combined figures.


@pytest.fixture
def migrated_to_0008(scratch_database_url, tmp_path):
    """An app on a fresh database migrated up to 0008, with its context pushed."""
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": scratch_database_url(), "SCHEDULER_ENABLED": False},
        instance_path=str(tmp_path),
    )
    with app.app_context():
        upgrade(revision="0008")
        yield db.engine
        db.engine.dispose()


ACCOUNT = (
    "INSERT INTO accounts (id, name, domain, segment, plan, arr, seats, lifecycle_stage, "
    "created_at, updated_at) VALUES (1, 'Acme', 'acme.example', 'smb', 'starter', 1000, 10, "
    "'mature', '2026-01-01', '2026-01-01')"
)


def rows(engine, sql: str) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def test_migration_0009_keeps_old_rows_as_imported_and_downgrade_combines_each_day(
    migrated_to_0008,
):
    engine = migrated_to_0008
    with engine.begin() as connection:
        connection.execute(text(ACCOUNT))
        connection.execute(
            text(
                "INSERT INTO usage_daily (account_id, day, active_users, events, features_used) "
                "VALUES (1, '2026-03-01', 28, 20, 3), (1, '2026-03-02', 5, 5, 1)"
            )
        )

    upgrade(revision="0009")

    listed = (
        "SELECT CAST(day AS TEXT), source, active_users, events, features_used FROM usage_daily"
    )
    assert sorted(rows(engine, listed)) == [
        ("2026-03-01", "imported", 28, 20, 3),
        ("2026-03-02", "imported", 5, 5, 1),
    ]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO usage_daily (account_id, day, source, active_users, events, "
                "features_used) VALUES (1, '2026-03-01', 'events', 1, 27, 5)"
            )
        )

    downgrade(revision="0008")

    kept = "SELECT CAST(day AS TEXT), active_users, events, features_used FROM usage_daily"
    assert sorted(rows(engine, kept)) == [("2026-03-01", 28, 27, 5), ("2026-03-02", 5, 5, 1)]
