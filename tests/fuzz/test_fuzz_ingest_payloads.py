"""Hostile ingestion payloads: every body gets a JSON answer below 500; bad events are reported."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cs_platform.extensions import db
from integrations.services import save_connection
from integrations.usage import BadRecord, hash_write_key, new_write_key, validate_event
from tests.fuzz.conftest import FUZZ

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
# Events shaped like Segment's, so the fuzzing reaches past the first checks.
event_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "identify", "group", "page", "screen"]) | json_values,
        "userId": st.text(max_size=30) | json_values,
        "anonymousId": json_values,
        "event": st.text(max_size=30) | json_values,
        "groupId": st.text(max_size=30) | json_values,
        "messageId": st.text(max_size=120) | json_values,
        "timestamp": st.datetimes().map(dt.datetime.isoformat) | st.text(max_size=30) | json_values,
        "context": st.dictionaries(st.just("groupId"), json_values) | json_values,
        "writeKey": json_values,
    },
)
events = event_like | json_values


@pytest.fixture
def write_key(app) -> str:
    key = new_write_key()
    source = save_connection(None, name="product-events", kind="segment", credentials={})
    source.write_key_hash = hash_write_key(key)
    db.session.commit()
    return key


@FUZZ
@given(event=events)
def test_validating_any_event_returns_a_row_or_a_reason(event):
    try:
        row = validate_event(event, None, dt.datetime(2026, 11, 22, 12, 0))
    except BadRecord as bad:
        assert str(bad)
    else:
        assert row["type"] in ("track", "identify", "group", "page", "screen")
        assert isinstance(row["message_id"], str) and len(row["message_id"]) <= 100


@FUZZ
@given(event=events, path=st.sampled_from(["track", "identify", "group", "page", "screen"]))
def test_any_single_event_gets_a_json_answer_below_500(
    generous_limits, client, write_key, event, path
):
    response = client.post(
        f"/v1/{path}", data=json.dumps(event), auth=(write_key, ""),
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code < 500, response.text
    assert response.is_json


@FUZZ
@given(batch=st.lists(events, max_size=8) | json_values)
def test_any_batch_gets_a_json_answer_below_500(generous_limits, client, write_key, batch):
    body = {"batch": batch} if isinstance(batch, list) else batch
    response = client.post("/v1/batch", json=body, auth=(write_key, ""))
    assert response.status_code < 500, response.text
    assert response.is_json


@FUZZ
@given(raw=st.binary(max_size=300))
def test_any_bytes_as_a_body_get_a_json_answer_below_500(generous_limits, client, write_key, raw):
    response = client.post(
        "/v1/batch", data=raw, auth=(write_key, ""), content_type="application/json"
    )
    assert response.status_code < 500, response.text
