"""Query strings and path ids that no database row can match answer 4xx or an empty view,
never a 500 (PostgreSQL refuses NUL in text and ids past INTEGER)."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from cs_platform.auth.services import create_api_key
from cs_platform.extensions import db
from cs_platform.request_args import BoundedArgs, is_database_id

TOO_BIG = "99999999999"


def test_int_lookups_past_the_integer_range_fall_back_to_the_default():
    args = BoundedArgs(MultiDict([("owner", TOO_BIG), ("page", "3"), ("id", "7"), ("id", TOO_BIG)]))

    assert args.get("owner", type=int) is None
    assert args.get("owner", 1, type=int) == 1
    assert args.get("page", type=int) == 3
    assert args.getlist("id", type=int) == [7]


def test_nul_characters_are_dropped_from_query_values():
    args = BoundedArgs(MultiDict([("q", "ac\x00me"), ("tag", "a\x00"), ("tag", "b")]))

    assert args["q"] == args.get("q") == "acme"
    assert args.getlist("tag") == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("42", True), ("2147483647", True), ("2147483648", False), ("²", False), ("-1", False),
     ("٣", False), ("", False)],
)  # fmt: skip
def test_only_ascii_digits_within_integer_are_database_ids(text, expected):
    assert is_database_id(text) is expected


@pytest.mark.parametrize(
    "path",
    [f"/accounts/{TOO_BIG}", f"/admin/webhooks/{TOO_BIG}", f"/integrations/{TOO_BIG}/edit",
     f"/surveys/{TOO_BIG}", f"/surveys/campaigns/{TOO_BIG}/edit", "/accounts/2147483648"],
)  # fmt: skip
def test_an_id_past_the_integer_range_in_a_page_path_is_a_404(client, make_user, login, path):
    login(make_user("admin"))

    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    "query",
    ["/?owner=²", f"/?owner={TOO_BIG}", "/?q=a%00b", "/?segment=%00", f"/?renewal_within={TOO_BIG}",
     f"/tasks?owner={TOO_BIG}", "/tasks?owner=²", f"/tasks?account={TOO_BIG}", "/tasks?q=%00",
     "/admin/audit?q=%00", f"/admin/audit?before={TOO_BIG}", f"/dashboards?owner={TOO_BIG}",
     "/integrations/unmatched?page=99999999999999999999"],
)  # fmt: skip
def test_filters_no_row_can_match_still_answer_a_page(client, make_user, login, query):
    login(make_user("admin"))

    response = client.get(query, follow_redirects=True)

    assert response.status_code == 200
    assert "\x00" not in response.text


@pytest.mark.parametrize(
    "query",
    [f"/api/v1/accounts/{TOO_BIG}", f"/api/v1/accounts/{TOO_BIG}/health",
     f"/api/v1/accounts?owner_id={TOO_BIG}", f"/api/v1/tasks?account_id={TOO_BIG}",
     f"/api/v1/survey-responses?account_id={TOO_BIG}", "/api/v1/accounts?segment=%00",
     "/api/v1/health-scores?cursor=x%00"],
)  # fmt: skip
def test_the_api_answers_such_filters_with_a_json_4xx(client, query):
    _, key = create_api_key("bi", ["admin"])
    db.session.commit()

    response = client.get(query, headers={"Authorization": f"Bearer {key}"})

    assert 400 <= response.status_code < 500
    assert response.get_json()["error"]["code"]
