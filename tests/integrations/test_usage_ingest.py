"""The Segment-style ingestion endpoint and the roll-up of raw events into UsageDaily."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import zlib

import pytest
from sqlalchemy import func, select

from cs_platform.auth.services import create_api_key
from cs_platform.extensions import db
from cs_platform.models import utcnow
from integrations.models import RawUsageEvent, UnmatchedRecord, UsageDaily
from integrations.sync import resolve_unmatched
from integrations.usage import hash_write_key, roll_up_all
from tests.factories import AccountFactory, ExternalIdFactory

WRITE_KEY = "wk_test_4f9a2b"
DAY = utcnow().date() - dt.timedelta(days=2)  # within the late-event window


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
        "timestamp": extra.pop("timestamp", f"{DAY}T10:00:00Z"),
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
    assert (event.group_id, event.event, event.day) == ("acme", "Report Exported", DAY)


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

    assert response.status_code == 413
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
        track("4", user="u1", timestamp=f"{DAY + dt.timedelta(days=1)}T09:00:00Z"),
        {"type": "identify", "messageId": "5", "userId": "u3", "context": {"groupId": "acme"},
         "timestamp": f"{DAY}T11:00:00Z"},
    ]  # fmt: skip
    client.post("/v1/batch", json={"batch": batch}, headers=auth())

    roll_up_all()

    rows = db.session.execute(
        select(UsageDaily.day, UsageDaily.active_users, UsageDaily.events, UsageDaily.features_used)
        .order_by(UsageDaily.day)
    ).all()  # fmt: skip
    assert rows == [(DAY, 3, 3, 2), (DAY + dt.timedelta(days=1), 1, 1, 1)]


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


# Late events: accepted while their day's raw events are all still kept, else refused.


def test_an_event_before_the_retention_window_is_refused_with_the_first_day_accepted(
    app, client, source, monkeypatch
):
    monkeypatch.setitem(app.config, "RAW_USAGE_EVENTS_RETENTION_DAYS", 7)
    oldest = utcnow().date() - dt.timedelta(days=6)
    batch = [
        track("first-day", timestamp=f"{oldest}T00:00:00Z"),
        track("too-late", timestamp=f"{oldest - dt.timedelta(days=1)}T23:59:59Z"),
    ]

    response = client.post("/v1/batch", json={"batch": batch}, headers=auth())

    assert response.status_code == 400
    details = response.json["error"]["details"]
    assert details["accepted"] == 1
    [refused] = details["rejected"]
    assert (refused["index"], refused["messageId"]) == (1, "too-late")
    assert f"events of {oldest} or later are accepted" in refused["reason"]
    assert count_raw() == 1


def test_a_late_event_within_the_window_is_rolled_into_its_own_day(client, source):
    AccountFactory(domain="acme.example")
    today = utcnow().date()
    late_day = today - dt.timedelta(days=30)
    on_time = track("1", group="acme.example", timestamp=f"{today}T08:00:00Z")
    client.post("/v1/track", json=on_time, headers=auth())
    roll_up_all()

    late = track("2", group="acme.example", timestamp=f"{late_day}T22:00:00Z")
    assert client.post("/v1/track", json=late, headers=auth()).status_code == 200
    roll_up_all()

    rows = db.session.execute(select(UsageDaily.day, UsageDaily.events).order_by(UsageDaily.day))
    assert rows.all() == [(late_day, 1), (today, 1)]


def test_with_raw_events_kept_forever_an_event_of_any_year_is_accepted(
    app, client, source, monkeypatch
):
    monkeypatch.setitem(app.config, "RAW_USAGE_EVENTS_RETENTION_DAYS", 0)

    response = client.post(
        "/v1/track", json=track("old", timestamp="2001-05-01T10:00:00Z"), headers=auth()
    )

    assert response.status_code == 200


# Bodies as real SDKs and attackers send them: compressed, oversized, nested, with NUL.

JSON = {"Content-Type": "application/json"}


def post_encoded(client, body: bytes, encoding: str, path: str = "/v1/batch", **headers):
    return client.post(
        path, data=body, headers={**JSON, "Content-Encoding": encoding, **auth(), **headers}
    )


def batch_bytes(*message_ids: str) -> bytes:
    return json.dumps({"batch": [track(m) for m in message_ids]}).encode()


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("identity", lambda body: body)],
)
def test_a_compressed_batch_is_decoded_and_stored(client, source, encoding, compress):
    response = post_encoded(client, compress(batch_bytes("m1", "m2")), encoding)

    assert response.status_code == 200, response.json
    assert response.json == {"success": True, "accepted": 2}
    assert count_raw() == 2


def test_a_gzip_bomb_is_refused_once_it_decompresses_past_the_limit(client, source):
    bomb = gzip.compress(b'{"batch": [' + b" " * 50_000_000 + b"]}")

    response = post_encoded(client, bomb, "gzip")

    assert len(bomb) < 100_000
    assert response.status_code == 413
    assert response.json["code"] == "too_large"
    assert "decompressed" in response.json["message"]
    assert count_raw() == 0


def test_a_corrupt_gzip_body_is_a_400(client, source):
    response = post_encoded(client, b"\x1f\x8b\x08\x00garbage", "gzip")

    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"


def test_a_truncated_gzip_body_is_a_400(client, source):
    response = post_encoded(client, gzip.compress(batch_bytes("m1"))[:-12], "gzip")

    assert response.status_code == 400
    assert "truncated" in response.json["message"]


def test_an_unknown_content_encoding_is_a_415(client, source):
    response = post_encoded(client, b"{}", "br")

    assert response.status_code == 415
    assert "br" in response.json["error"]["message"]


def test_errors_carry_code_and_message_at_the_top_level_for_the_sdks(client, source):
    response = client.post("/v1/track", json=track("m1"), headers=auth("wrong"))

    assert response.status_code == 401
    assert response.json["code"] == response.json["error"]["code"] == "unauthorized"
    assert response.json["message"] == response.json["error"]["message"]


def test_json_nested_5000_deep_is_a_400_not_a_crash(client, source):
    deep = '{"batch": [' + "[" * 5000 + "]" * 5000 + "]}"

    response = client.post("/v1/batch", data=deep, headers={**JSON, **auth()})

    assert response.status_code == 400
    assert response.json["code"] == "invalid_json"
    assert "nested deeper" in response.json["message"]


def test_json_nested_past_the_depth_limit_is_refused_too(client, source):
    event = track("m1", properties={"a": json.loads("[" * 70 + "]" * 70)})

    response = client.post("/v1/track", json=event, headers=auth())

    assert response.status_code == 400
    assert count_raw() == 0


def test_the_write_key_may_come_in_the_body(client, source):
    body = {"writeKey": "wk_test_4f9a2b", "batch": [track("m1")]}

    response = client.post("/v1/batch", json=body)

    assert response.status_code == 200
    assert count_raw() == 1


def test_a_nul_in_an_id_rejects_that_event_and_keeps_the_rest_of_the_batch(client, source):
    batch = [track("ok-1"), track("nul", user="u\u00001"), track("ok-2", group="ac\x00me")]

    response = client.post("/v1/batch", json={"batch": batch}, headers=auth())

    assert response.status_code == 400
    details = response.json["error"]["details"]
    assert details["accepted"] == 1
    assert [r["index"] for r in details["rejected"]] == [1, 2]
    assert "NUL" in details["rejected"][0]["reason"]
    assert count_raw() == 1


def test_every_api_json_body_has_the_same_depth_limit(client):
    account = AccountFactory()
    _, key = create_api_key("crm sync", ["write:accounts"])
    db.session.commit()
    deep = "[" * 5000 + "]" * 5000

    response = client.patch(
        f"/api/v1/accounts/{account.id}",
        data=deep,
        headers={**JSON, "Authorization": f"Bearer {key}"},
    )

    assert response.status_code == 400
    assert "nested deeper" in json.dumps(response.json["error"])


def test_a_body_over_max_content_length_is_a_413_page(app, client, make_user, login):
    login(make_user("admin"))

    response = client.post("/login", data={"email": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)})

    assert response.status_code == 413
