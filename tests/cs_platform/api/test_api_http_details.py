"""Every documented filter works, and the HTTP details clients rely on are right: empty cursors,
missing bodies, Allow on 405, WWW-Authenticate on 401, Retry-After only on 429."""

from __future__ import annotations

import pytest

from cs_platform.extensions import db
from cs_platform.models import Account
from tests.cs_platform.api.test_api_endpoints import assert_error
from tests.factories import AccountFactory, SurveyResponseFactory, TaskFactory


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.get_json()["data"]]


def test_tasks_filter_by_account_id(client, auth_headers):
    wanted, other = AccountFactory(), AccountFactory()
    task = TaskFactory(account=wanted)
    TaskFactory(account=other)
    response = client.get(f"/api/v1/tasks?account_id={wanted.id}", headers=auth_headers())
    assert ids(response) == [task.id]


def test_survey_responses_filter_by_account_id(client, auth_headers):
    wanted = AccountFactory()
    answer = SurveyResponseFactory(account=wanted)
    SurveyResponseFactory()
    response = client.get(
        f"/api/v1/survey-responses?account_id={wanted.id}", headers=auth_headers("read:surveys")
    )
    assert ids(response) == [answer.id]


def test_accounts_filter_by_owner_id(client, auth_headers, make_user):
    owner = make_user("csm")
    owned = AccountFactory(owner_id=owner.id)
    AccountFactory()
    response = client.get(f"/api/v1/accounts?owner_id={owner.id}", headers=auth_headers())
    assert ids(response) == [owned.id]


@pytest.mark.parametrize("value", ["1.0", "+1", " 1", "1_0", "0", "-3", "2147483648", "0x1"])
def test_an_id_filter_takes_plain_digits_in_range_only(client, auth_headers, value):
    AccountFactory()
    response = client.get(
        "/api/v1/tasks", query_string={"account_id": value}, headers=auth_headers()
    )
    assert "account_id" in assert_error(response, 422, "unprocessable_entity")["query"]


@pytest.mark.parametrize("path", ["/api/v1/accounts", "/api/v1/health-scores", "/api/v1/tasks"])
def test_an_empty_cursor_is_the_first_page(client, auth_headers, path):
    AccountFactory()
    headers = auth_headers()
    first = client.get(f"{path}?limit=1", headers=headers)
    empty = client.get(f"{path}?limit=1&cursor=", headers=headers)
    assert empty.status_code == 200, empty.text
    assert empty.get_json() == first.get_json()


@pytest.mark.parametrize(
    "send",
    [
        {},
        {"data": "", "content_type": "application/json"},
        {"data": '{"seats": 5}', "content_type": "text/plain"},
    ],
    ids=["no body", "empty JSON body", "not JSON"],
)
def test_a_patch_without_a_json_body_is_a_400_and_changes_nothing(client, auth_headers, send):
    account = AccountFactory(seats=40)
    response = client.patch(f"/api/v1/accounts/{account.id}", headers=auth_headers(), **send)
    assert "json" in assert_error(response, 400, "bad_request")
    db.session.expire_all()
    assert db.session.get(Account, account.id).seats == 40


def test_a_put_without_a_body_is_a_400_before_its_required_fields(client, auth_headers):
    response = client.put("/api/v1/accounts/external/hubspot/1", headers=auth_headers())
    assert_error(response, 400, "bad_request")


def test_a_patch_with_an_empty_object_still_changes_nothing_and_answers_200(client, auth_headers):
    account = AccountFactory()
    response = client.patch(f"/api/v1/accounts/{account.id}", json={}, headers=auth_headers())
    assert response.status_code == 200
    assert response.get_json()["id"] == account.id


def test_a_method_not_allowed_says_which_are(client, auth_headers):
    response = client.delete("/api/v1/accounts", headers=auth_headers())
    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_a_method_not_allowed_on_a_page_says_which_are_too(client):
    response = client.put("/login")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer csk_unknown"}, {"Authorization": "Basic eDp5"}]
)
def test_a_401_says_how_to_authenticate(client, headers):
    response = client.get("/api/v1/accounts", headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_no_other_answer_carries_www_authenticate(client, auth_headers):
    assert "WWW-Authenticate" not in client.get("/api/v1/accounts", headers=auth_headers()).headers
    forbidden = client.get("/api/v1/accounts", headers=auth_headers("read:surveys"))
    assert forbidden.status_code == 403
    assert "WWW-Authenticate" not in forbidden.headers


def test_retry_after_comes_only_with_429(app, client, auth_headers, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "2 per minute")
    headers = auth_headers("read:scores")
    answers = [client.get("/api/v1/accounts", headers=headers) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert ["Retry-After" in answer.headers for answer in answers] == [False, False, True]
    assert 0 < int(answers[2].headers["Retry-After"]) <= 61  # the window, rounded up
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == ["1", "0", "0"]
    assert answers[0].headers["X-RateLimit-Limit"] == answers[0].headers["RateLimit-Limit"] == "2"
    assert int(answers[0].headers["X-RateLimit-Reset"]) > 1_700_000_000


def test_a_rate_limited_sign_in_page_gets_retry_after_too(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")
    sign_in = {"email": "x@example.com", "password": "wrong"}
    answers = [client.post("/login", data=sign_in) for _ in range(3)]
    assert answers[-1].status_code == 429
    assert "Retry-After" not in answers[0].headers
    assert int(answers[-1].headers["Retry-After"]) > 0


def test_a_304_carries_the_etag_it_matched(client, auth_headers):
    account = AccountFactory()
    headers = auth_headers()
    first = client.get(f"/api/v1/accounts/{account.id}", headers=headers)
    again = client.get(
        f"/api/v1/accounts/{account.id}", headers=headers | {"If-None-Match": first.headers["ETag"]}
    )
    assert (again.status_code, again.data) == (304, b"")
    assert again.headers["ETag"] == first.headers["ETag"]
    assert "Retry-After" not in again.headers
