"""The admin page that edits the scorecard."""

from __future__ import annotations

import re

import pytest

from cs_platform.extensions import db
from scoring.models import ScorecardSettings
from scoring.services import load_scorecard
from tests.conftest import audit_trail


@pytest.fixture
def admin_client(make_user, login):
    return login(make_user("admin"))


def form_data(**changes) -> dict:
    data = {
        "green_at": "75",
        "red_below": "35",
        "measures-0-feature": "seat_utilisation",
        "measures-0-weight": "60",
        "measures-0-bad": "0.1",
        "measures-0-good": "0.9",
        "measures-1-feature": "nps_latest",
        "measures-1-weight": "40",
        "measures-1-bad": "4",
        "measures-1-good": "9",
        "measures-2-feature": "",
    }
    return data | changes


def test_admin_sees_the_default_scorecard_and_which_method_scores(make_user, login):
    client = login(make_user("admin"))
    page = client.get("/admin/scoring/scorecard")
    assert page.status_code == 200
    assert "this scorecard scores every account" in page.text
    assert '<option selected value="active_users_change_30d">' in page.text


def test_csm_may_not_edit_the_scorecard(csm_client):
    assert csm_client.get("/admin/scoring/scorecard").status_code == 403
    assert csm_client.post("/admin/scoring/scorecard", data=form_data()).status_code == 403


def test_admin_saves_measures_and_bands_that_the_next_run_uses(make_user, login):
    client = login(make_user("admin"))
    response = client.post("/admin/scoring/scorecard", data=form_data())
    assert response.status_code == 302
    card = load_scorecard()
    assert (card.green_at, card.red_below) == (75.0, 35.0)
    assert [(m.feature, m.weight) for m in card.measures] == [
        ("seat_utilisation", 60.0),
        ("nps_latest", 40.0),
    ]


def test_bad_scorecard_input_gets_a_readable_400_and_saves_nothing(make_user, login):
    client = login(make_user("admin"))
    response = client.post(
        "/admin/scoring/scorecard",
        data=form_data(red_below="80", **{"measures-1-good": "4"}),
    )
    assert response.status_code == 400
    assert "Red must start below green." in response.text
    assert "The values for 0 and 100 points must differ." in response.text
    assert db.session.get(ScorecardSettings, 1) is None


def test_scorecard_form_needs_its_csrf_token(admin_client, csrf_enabled):
    client = admin_client
    assert client.post("/admin/scoring/scorecard", data=form_data()).status_code == 400
    page = client.get("/admin/scoring/scorecard").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    saved = client.post("/admin/scoring/scorecard", data=form_data(csrf_token=token))
    assert saved.status_code == 302


def test_saving_the_scorecard_leaves_an_audit_entry_with_the_old_and_new_weights(make_user, login):
    admin = make_user("admin")
    login(admin).post("/admin/scoring/scorecard", data=form_data())
    [entry] = audit_trail()
    assert (entry.action, entry.actor_id) == ("scorecard.updated", admin.id)
    old, new = entry.details["old"], entry.details["new"]
    assert old["weights"]["active_users_change_30d"] == 25 and old["green_at"] == 70
    assert new["weights"] == {"seat_utilisation": 60, "nps_latest": 40}
    assert new["thresholds"]["seat_utilisation"] == [0.1, 0.9]
    assert (new["green_at"], new["red_below"]) == (75, 35)
