"""The Segment-style ingestion endpoint and the roll-up of raw events into UsageDaily."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from sqlalchemy import func, select

from cs_platform.extensions import db
from integrations.models import RawUsageEvent, UnmatchedRecord, UsageDaily
from integrations.sync import resolve_unmatched
from integrations.usage import hash_write_key, roll_up_all
from tests.factories import AccountFactory, ExternalIdFactory

WRITE_KEY = "wk_test_4f9a2b"


@pytest.fixture
def source(make_connection):
    connection = make_connection("segment", "", {"write_key": WRITE_KEY})
    connection.write_key_hash = hash_write_key(WRITE_KEY)
    db.session.commit()
    return connection


def auth(key: str = WRITE_KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def track(message_id: str, group: str = "acme", user: str = "u1", **extra) -> dict:
    return {
        "type": "track",
        "messageId": message_id,
        "userId": user,
        "event": extra.pop("event", "Report Exported"),
        "timestamp": extra.pop("timestamp", "2026-03-02T10:00:00Z"),
        "context": {"groupId": group},
        **extra,
    }


def count_raw() -> int:
    return db.session.scalar(select(func.count()).select_from(RawUsageEvent))


def test_track_with_the_write_key_as_basic_username_is_stored(client, source):
    response = client.post("/v1/track", json=track("m1"), headers=auth())

    assert response.status_code == 200
    assert response.json == {"success": True, "accepted": 1}
    event = db.session.scalar(select(RawUsageEvent))
    assert (event.group_id, event.event, event.day) == ("acme", "Report Exported",
                                                        dt.date(2026, 3, 2))  # fmt: skip


def test_unknown_write_key_is_refused_with_a_json_401(client, source):
    response = client.post("/v1/track", json=track("m1"), headers=auth("nope"))

    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert count_raw() == 0


def test_a_repeated_message_id_is_stored_once(client, source):
    client.post("/v1/batch", json={"batch": [track("m1"), track("m1")]}, headers=auth())
    client.post("/v1/track", json=track("m1"), headers=auth())

    assert count_raw() == 1


def test_a_batch_keeps_valid_events_and_reports_the_bad_ones(client, source):
    batch = [
        track("ok-1"),
        {"type": "track", "messageId": "no-user", "event": "X"},
        track("ancient", timestamp="1900-01-01T00:00:00Z"),
        "not an object",
        {"type": "group", "messageId": "g1", "userId": "u1", "groupId": "acme"},
        track("huge", properties={"blob": "x" * 33_000}),
        {"type": "alias", "messageId": "a1", "userId": "u1"},
    ]

    response = client.post("/v1/batch", json={"batch": batch}, headers=auth())

    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "invalid_events"
    assert error["details"]["accepted"] == 2
    reasons = {r["index"]: r["reason"] for r in error["details"]["rejected"]}
    assert set(reasons) == {1, 2, 3, 5, 6}
    assert "userId" in reasons[1]
    assert "out of range" in reasons[2]
    assert "32 KB" in reasons[5]
    assert count_raw() == 2


def test_a_batch_over_500_kb_is_refused_whole(client, source):
    batch = [track(f"m{i}", properties={"pad": "x" * 20_000}) for i in range(30)]

    response = client.post("/v1/batch", json={"batch": batch}, headers=auth())

    assert response.status_code == 400
    assert response.json["error"]["code"] == "too_large"
    assert count_raw() == 0


def test_malformed_json_gets_a_json_400(client, source):
    response = client.post(
        "/v1/batch", data="{not json", headers={**auth(), "Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"


def test_ingestion_is_rate_limited_per_write_key(app, client, source, monkeypatch):
    monkeypatch.setitem(app.config, "INGEST_RATE_LIMIT", "3 per minute")

    codes = [client.post("/v1/track", json=track(f"m{i}"), headers=auth()).status_code
             for i in range(5)]  # fmt: skip

    assert codes == [200, 200, 200, 429, 429]


def test_ingestion_needs_no_csrf_token(client, source, csrf_enabled):
    assert client.post("/v1/track", json=track("m1"), headers=auth()).status_code == 200


def test_roll_up_counts_users_events_and_features_per_account_and_day(client, source):
    acme = AccountFactory(domain="acme.example")
    ExternalIdFactory(account=acme, source="segment", external_id="acme")
    batch = [
        track("1", user="u1", event="Report Exported"),
        track("2", user="u2", event="Dashboard Viewed"),
        track("3", user="u1", event="Report Exported"),
        track("4", user="u1", timestamp="2026-03-03T09:00:00Z"),
        {"type": "identify", "messageId": "5", "userId": "u3", "context": {"groupId": "acme"},
         "timestamp": "2026-03-02T11:00:00Z"},
    ]  # fmt: skip
    client.post("/v1/batch", json={"batch": batch}, headers=auth())

    roll_up_all()

    rows = db.session.execute(
        select(UsageDaily.day, UsageDaily.active_users, UsageDaily.events, UsageDaily.features_used)
        .order_by(UsageDaily.day)
    ).all()  # fmt: skip
    assert rows == [(dt.date(2026, 3, 2), 3, 3, 2), (dt.date(2026, 3, 3), 1, 1, 1)]


def test_roll_up_is_incremental_and_recomputes_touched_days_whole(client, source):
    AccountFactory(domain="acme.example")
    client.post("/v1/track", json=track("1", group="acme.example"), headers=auth())
    roll_up_all()
    client.post("/v1/track", json=track("2", group="acme.example", user="u9"), headers=auth())

    roll_up_all()
    roll_up_all()

    usage = db.session.scalar(select(UsageDaily))
    assert (usage.active_users, usage.events) == (2, 2)


def test_events_of_an_unknown_group_wait_in_the_queue_until_resolved(client, source):
    account = AccountFactory(domain="initech.example")
    batch = [track("1", group="grp_42"), track("2", group="grp_42")]
    client.post("/v1/batch", json={"batch": batch}, headers=auth())
    roll_up_all()
    queued = db.session.scalar(select(UnmatchedRecord))
    assert (queued.stream, queued.external_id, queued.payload["events"]) == ("usage", "grp_42", 2)
    assert db.session.scalar(select(func.count()).select_from(UsageDaily)) == 0

    resolve_unmatched(queued, account.id)
    db.session.commit()

    usage = db.session.scalar(select(UsageDaily))
    assert (usage.account_id, usage.events) == (account.id, 2)
    assert queued.resolved_at is not None
