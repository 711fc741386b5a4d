"""The roll-up claims raw usage events by batch, so an event committed late is still counted."""

from __future__ import annotations

import datetime as dt

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from cs_platform import create_app
from cs_platform.extensions import db
from cs_platform.models import Account, utcnow
from integrations.models import Connection, RawUsageEvent, SyncState, UsageDaily
from integrations.usage import hash_write_key, ingest_events, roll_up, roll_up_all, validate_event
from tests.factories import AccountFactory

DAY = utcnow().date() - dt.timedelta(days=2)  # within the late-event window


@pytest.fixture
def make_source(make_connection):
    """A Segment-style source with its own write key."""

    def make(name: str) -> Connection:
        key = f"wk_{name}"
        connection = make_connection("segment", "", {"write_key": key}, name=name)
        connection.write_key_hash = hash_write_key(key)
        db.session.commit()
        return connection

    return make


def track(message_id: str, group: str, user: str) -> dict:
    return {
        "type": "track",
        "messageId": message_id,
        "userId": user,
        "event": "Report Exported",
        "timestamp": f"{DAY}T10:00:00Z",
        "context": {"groupId": group},
    }


def receive(source: Connection, *events: dict) -> None:
    """Ingest and commit events as the /v1/batch endpoint does."""
    ingest_events(source, list(events))
    db.session.commit()


def raw_event(source: Connection, message_id: str, group: str, user: str) -> RawUsageEvent:
    now = utcnow()
    row = validate_event(track(message_id, group, user), None, now)
    return RawUsageEvent(**row, connection_id=source.id, received_at=now)


def usage_of(domain: str) -> tuple[int, int] | None:
    """(active users, events) of the account with this domain on DAY."""
    db.session.expire_all()
    row = db.session.execute(
        select(UsageDaily.active_users, UsageDaily.events)
        .join(Account, Account.id == UsageDaily.account_id)
        .where(Account.domain == domain, UsageDaily.day == DAY)
    ).first()
    return None if row is None else tuple(row)


def batches_by_message() -> dict[str, int | None]:
    db.session.expire_all()
    query = select(RawUsageEvent.message_id, RawUsageEvent.rollup_batch)
    return dict(db.session.execute(query).all())


@pytest.mark.postgres
def test_an_event_committed_late_with_a_lower_id_is_rolled_up_by_the_next_run(make_source):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent uncommitted inserts need PostgreSQL")
    AccountFactory(domain="acme.example")
    source = make_source("segment-main")
    with Session(db.engine) as slow_ingest, Session(db.engine) as fast_ingest:
        slow = raw_event(source, "slow", "acme.example", "u1")
        slow_ingest.add(slow)
        slow_ingest.flush()
        fast = raw_event(source, "fast", "acme.example", "u2")
        fast_ingest.add(fast)
        fast_ingest.commit()
        assert slow.id < fast.id

        roll_up_all()
        assert usage_of("acme.example") == (1, 1)

        slow_ingest.commit()
    roll_up_all()

    assert usage_of("acme.example") == (2, 2)
    assert None not in batches_by_message().values()


def test_a_roll_up_with_nothing_new_writes_nothing(make_source):
    AccountFactory(domain="acme.example")
    source = make_source("segment-main")
    receive(source, track("1", "acme.example", "u1"), track("2", "acme.example", "u2"))
    assert roll_up_all() == 1
    claimed = batches_by_message()
    db.session.execute(update(UsageDaily).values(events=999))
    db.session.commit()

    assert roll_up_all() == 0

    assert usage_of("acme.example") == (2, 999)  # not recomputed
    assert batches_by_message() == claimed
    state = SyncState.for_stream(source.id, "rollup")
    assert state.cursor == str(claimed["1"])
    assert state.last_success_at is not None


def test_each_run_claims_the_new_events_with_a_new_batch_number(make_source):
    AccountFactory(domain="acme.example")
    source = make_source("segment-main")
    receive(source, track("1", "acme.example", "u1"))
    roll_up_all()
    receive(source, track("2", "acme.example", "u2"))

    roll_up_all()

    batches = batches_by_message()
    assert None not in batches.values()
    assert batches["2"] == batches["1"] + 1
    assert usage_of("acme.example") == (2, 2)


def test_events_of_two_connections_are_claimed_separately(make_source):
    AccountFactory(domain="acme.example")
    AccountFactory(domain="globex.example")
    main, europe = make_source("segment-main"), make_source("segment-eu")
    receive(main, track("m1", "acme.example", "u1"), track("m2", "acme.example", "u2"))
    receive(europe, track("e1", "globex.example", "u7"))

    assert roll_up(europe) == 1
    db.session.commit()

    assert batches_by_message() == {"m1": None, "m2": None, "e1": 1}
    assert (usage_of("globex.example"), usage_of("acme.example")) == ((1, 1), None)

    roll_up(main)
    db.session.commit()

    assert batches_by_message() == {"m1": 1, "m2": 1, "e1": 1}
    assert usage_of("acme.example") == (2, 2)


# Migration 0005 replaces each connection's id watermark (the "rollup" cursor) by batch marks.

CONNECTION = (
    "INSERT INTO integration_connections (id, name, kind, base_url, credentials_encrypted, "
    "settings, interval_minutes, request_budget, enabled, status, created_at) VALUES "
    "(:id, :name, 'segment', '', 'x', '{}', 60, 100, true, 'ok', '2026-03-01')"
)
EVENT = (
    "INSERT INTO raw_usage_events (id, connection_id, message_id, type, user_id, group_id, day, "
    "timestamp, received_at) VALUES (:id, :connection_id, :message_id, 'track', 'u1', 'acme', "
    "'2026-03-02', '2026-03-02 10:00:00', '2026-03-02 10:00:00')"
)


@pytest.fixture
def migrated_to_0004(scratch_database_url, tmp_path):
    """An app on a fresh database migrated up to 0004, with its context pushed."""
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": scratch_database_url(), "SCHEDULER_ENABLED": False},
        instance_path=str(tmp_path),
    )
    with app.app_context():
        upgrade(revision="0004")
        yield db.engine
        db.engine.dispose()


def rows(engine, sql: str) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def test_migration_0005_marks_events_up_to_the_old_watermark_and_downgrade_restores_one(
    migrated_to_0004,
):
    engine = migrated_to_0004
    with engine.begin() as connection:
        connection.execute(text(CONNECTION), [{"id": 1, "name": "main"}, {"id": 2, "name": "eu"}])
        connection.execute(
            text(EVENT),
            [{"id": i, "connection_id": c, "message_id": f"m{i}"}
             for i, c in [(1, 1), (2, 1), (3, 2), (4, 1), (5, 2)]],
        )  # fmt: skip
        connection.execute(
            text(
                "INSERT INTO integration_sync_states (connection_id, stream, cursor) "
                "VALUES (1, 'rollup', '2'), (1, 'tickets', '99'), (2, 'rollup', '0')"
            )
        )

    upgrade(revision="0005")

    marks = rows(engine, "SELECT id, rollup_batch FROM raw_usage_events ORDER BY id")
    assert marks == [(1, 0), (2, 0), (3, None), (4, None), (5, None)]

    with engine.begin() as connection:
        connection.execute(text("UPDATE raw_usage_events SET rollup_batch = 3 WHERE id = 4"))
        connection.execute(
            text("UPDATE integration_sync_states SET cursor = '7' WHERE stream = 'rollup'")
        )
    downgrade(revision="0004")

    cursors = rows(
        engine,
        "SELECT connection_id, stream, cursor FROM integration_sync_states "
        "ORDER BY connection_id, stream",
    )
    assert cursors == [(1, "rollup", "4"), (1, "tickets", "99"), (2, "rollup", "2")]
