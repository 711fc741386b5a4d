"""A hot API read does only its own work: with a key the process has checked, no database
session is made and no cookie is written."""

from __future__ import annotations

import pytest
import requests

from cs_platform.extensions import db
from tests.factories import HealthScoreFactory


@pytest.fixture
def postgres(app) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads in the session")


def test_a_read_with_a_key_the_process_has_checked_opens_no_session(
    postgres, live_api, auth_headers, monkeypatch
):
    score = HealthScoreFactory()
    db.session.commit()
    url, headers = f"{live_api}/api/v1/accounts/{score.account_id}/health", auth_headers()
    assert requests.get(url, headers=headers, timeout=10).status_code == 200  # key now cached
    sessions_made = []
    make_session = db.session.registry.createfunc
    monkeypatch.setattr(
        db.session.registry, "createfunc", lambda: sessions_made.append(1) or make_session()
    )
    answer = requests.get(url, headers=headers, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["score"] == score.score
    assert sessions_made == []
    assert "Set-Cookie" not in answer.headers
    assert "Cookie" in answer.headers["Vary"]
