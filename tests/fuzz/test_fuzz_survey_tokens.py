"""Hostile survey links: any token, any score, any form reach a readable 4xx, never a 5xx."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
from flask import current_app
from hypothesis import given
from hypothesis import strategies as st

from cs_platform.extensions import db
from cs_platform.models import utcnow
from surveys.models import Invitation
from surveys.tokens import derive_token, hash_token, looks_like_token, new_salt
from tests.factories import CampaignFactory, ContactFactory
from tests.fuzz.conftest import FUZZ

path_text = st.text(min_size=1, max_size=80)
scores = st.one_of(st.integers(-(10**12), 10**12).map(str), st.text(max_size=20))


@pytest.fixture
def token(app) -> str:
    """The link token of a live invitation."""
    contact = ContactFactory()
    salt = new_salt()
    token = derive_token(current_app.config["SECRET_KEY"], salt)
    db.session.add(
        Invitation(
            campaign=CampaignFactory(), contact=contact, account=contact.account,
            period_key="p1", token_hash=hash_token(token), token_salt=salt, status="sent",
            scheduled_for=utcnow(), expires_at=utcnow() + dt.timedelta(days=30),
        )
    )  # fmt: skip
    db.session.commit()
    return token


@FUZZ
@given(text=st.text(max_size=200))
def test_the_token_shape_check_accepts_or_refuses_any_text(text):
    assert looks_like_token(text) in (True, False)


@FUZZ
@given(garbage=path_text, score=scores)
def test_unknown_tokens_never_reach_a_survey_or_a_server_error(
    generous_limits, client, garbage, score
):
    link = f"/s/{quote(garbage, safe='')}"
    for response in (
        client.get(link),
        client.get(f"{link}/{quote(score, safe='')}"),
        client.post(f"{link}/answer", data={"score": score}),
    ):
        assert response.status_code in (308, 400, 404, 405, 410), response.status_code


@FUZZ
@given(score=scores, comment=st.text(max_size=3000))
def test_a_real_link_with_any_score_or_comment_never_fails(
    generous_limits, client, token, score, comment
):
    shown = client.get(f"/s/{token}/{quote(score, safe='')}")
    assert shown.status_code in (200, 308, 400, 404), shown.status_code  # 308: empty score
    answered = client.post(f"/s/{token}/answer", data={"score": score})
    assert answered.status_code in (303, 400), answered.status_code
    commented = client.post(f"/s/{token}/comment", data={"comment": comment})
    assert commented.status_code < 500, commented.status_code
