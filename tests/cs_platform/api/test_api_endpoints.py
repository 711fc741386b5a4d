"""The REST API: keys and scopes, cursor pages, ETags, errors, rate limits and each resource."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import Account, AccountChange, ExternalId, utcnow
from scoring.features import features_as_of
from tests.conftest import audit_trail
from tests.factories import (
    AccountFactory,
    BandOverrideFactory,
    ChurnRiskFactory,
    HealthScoreFactory,
    SurveyFactory,
    SurveyResponseFactory,
    TaskFactory,
)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]["details"]


def test_a_call_without_a_key_is_refused_with_a_json_401(client):
    assert_error(client.get("/api/v1/accounts"), 401, "unauthorized")


def test_a_revoked_key_is_refused_with_401(client, auth_headers):
    headers = auth_headers("read:scores")
    assert client.get("/api/v1/accounts", headers=headers).status_code == 200
    from cs_platform.models import ApiKey

    for key in db.session.query(ApiKey):
        key.revoked_at = utcnow()
    db.session.commit()
    assert_error(client.get("/api/v1/accounts", headers=headers), 401, "unauthorized")


def test_a_key_without_the_scope_is_refused_with_403(client, auth_headers):
    headers = auth_headers("read:surveys")
    assert_error(client.get("/api/v1/accounts", headers=headers), 403, "forbidden")
    assert client.get("/api/v1/survey-responses", headers=headers).status_code == 200


def test_cursor_pages_walk_every_account_once_in_a_stable_order(client, auth_headers):
    ids = [AccountFactory().id for _ in range(5)]
    headers = auth_headers("read:scores")
    seen, cursor = [], None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = client.get("/api/v1/accounts", query_string=query, headers=headers).get_json()
        seen += [row["id"] for row in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        AccountFactory()  # rows added while paging come after the ones already seen
    assert seen[:5] == ids
    assert len(seen) == len(set(seen))


def test_account_filters_narrow_the_list(client, auth_headers):
    AccountFactory(segment="smb", plan="starter")
    wanted = AccountFactory(segment="enterprise", plan="enterprise", domain="acme.example")
    response = client.get(
        "/api/v1/accounts?segment=enterprise&domain=acme.example", headers=auth_headers()
    )
    assert [row["id"] for row in response.get_json()["data"]] == [wanted.id]


def test_a_page_size_over_the_cap_is_a_422_naming_limit(client, auth_headers):
    details = assert_error(
        client.get("/api/v1/accounts?limit=501", headers=auth_headers()),
        422,
        "unprocessable_entity",
    )
    assert "limit" in details["query"]


@pytest.mark.parametrize(
    "query", ["cursor=not-a-cursor", "updated_since=yesterday", "segment=galactic"]
)
def test_malformed_query_values_are_a_422_naming_the_field(client, auth_headers, query):
    details = assert_error(
        client.get(f"/api/v1/accounts?{query}", headers=auth_headers()),
        422,
        "unprocessable_entity",
    )
    assert query.split("=")[0] in details["query"]


def test_an_unchanged_read_answers_304_to_its_etag(client, auth_headers):
    account = AccountFactory()
    headers = auth_headers("read:scores")
    first = client.get(f"/api/v1/accounts/{account.id}", headers=headers)
    assert first.status_code == 200 and first.headers["ETag"]
    again = client.get(
        f"/api/v1/accounts/{account.id}", headers=headers | {"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    account.name = "Renamed Inc"
    db.session.commit()
    changed = client.get(
        f"/api/v1/accounts/{account.id}", headers=headers | {"If-None-Match": first.headers["ETag"]}
    )
    assert changed.status_code == 200
    assert changed.get_json()["name"] == "Renamed Inc"


def test_an_unknown_account_is_a_json_404(client, auth_headers):
    assert_error(client.get("/api/v1/accounts/999999", headers=auth_headers()), 404, "not_found")


def test_the_rate_limit_is_per_key_with_headers_and_retry_after(app, client, auth_headers):
    app.config["API_RATE_LIMIT"] = "3 per minute"
    try:
        first, second = auth_headers("read:scores"), auth_headers("read:scores")
        answers = [client.get("/api/v1/accounts", headers=first) for _ in range(4)]
        other = client.get("/api/v1/accounts", headers=second)
    finally:
        app.config["API_RATE_LIMIT"] = "1200 per minute"
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert answers[0].headers["RateLimit-Limit"] == "3"
    assert answers[0].headers["RateLimit-Remaining"] == "2"
    assert int(answers[3].headers["Retry-After"]) > 0
    assert_error(answers[3], 429, "too_many_requests")
    assert other.status_code == 200


def test_the_latest_health_score_carries_a_band_override_in_force(client, auth_headers):
    account = AccountFactory()
    HealthScoreFactory(account=account, scored_on=dt.date(2026, 5, 1), score=80.0)
    HealthScoreFactory(account=account, scored_on=dt.date(2026, 5, 2), score=35.0)
    headers = auth_headers("read:scores")
    body = client.get(f"/api/v1/accounts/{account.id}/health", headers=headers).get_json()
    assert (body["score"], body["band"], body["effective_band"]) == (35.0, "red", "red")
    assert body["override"] is None
    BandOverrideFactory(account=account, band="yellow")
    body = client.get(f"/api/v1/accounts/{account.id}/health", headers=headers).get_json()
    assert (body["band"], body["effective_band"]) == ("red", "yellow")
    assert body["override"]["reason"] == "Exec sponsor confirmed the renewal"


def test_the_health_score_says_what_changed_and_keeps_context_apart(client, auth_headers):
    week = {
        "since": "2026-04-25",
        "previous_score": 47.0,
        "delta": -12.0,
        "parts": [
            {"feature": "active_users", "points": -12.0, "sentence": "24 a day (was 40)",
             "context": False}
        ],
    }  # fmt: skip
    context = [{"feature": "arr", "value": 9e4, "contribution": 0.2, "sentence": "ARR 90,000"}]
    account = AccountFactory()
    HealthScoreFactory(account=account, score=35.0, changes={"7": week}, context=context)
    headers = auth_headers("read:scores")
    body = client.get(f"/api/v1/accounts/{account.id}/health", headers=headers).get_json()
    assert body["changes"]["7"]["parts"][0]["points"] == -12.0
    assert body["context"][0]["feature"] == "arr"
    assert all(driver["feature"] != "arr" for driver in body["drivers"])


def test_an_account_without_scores_answers_404_for_health_and_churn_risk(client, auth_headers):
    account = AccountFactory()
    headers = auth_headers("read:scores")
    assert_error(
        client.get(f"/api/v1/accounts/{account.id}/health", headers=headers), 404, "not_found"
    )
    assert_error(
        client.get(f"/api/v1/accounts/{account.id}/churn-risk", headers=headers), 404, "not_found"
    )


def test_health_history_is_oldest_first_within_the_dates(client, auth_headers):
    account = AccountFactory()
    for day in (3, 1, 2, 4):
        HealthScoreFactory(account=account, scored_on=dt.date(2026, 5, day), score=50 + day)
    body = client.get(
        f"/api/v1/accounts/{account.id}/health/history?since=2026-05-02&until=2026-05-04&limit=2",
        headers=auth_headers("read:scores"),
    ).get_json()
    assert [row["scored_on"] for row in body["data"]] == ["2026-05-02", "2026-05-03"]
    assert body["next_cursor"]


def test_bulk_health_scores_return_only_rows_written_since(client, auth_headers):
    old = HealthScoreFactory()
    old.updated_at = dt.datetime(2026, 1, 1)
    db.session.commit()
    fresh = HealthScoreFactory()
    body = client.get(
        "/api/v1/health-scores?updated_since=2026-06-01T00:00:00Z",
        headers=auth_headers("read:scores"),
    ).get_json()
    assert [row["id"] for row in body["data"]] == [fresh.id]
    assert body["data"][0]["updated_at"].endswith("+00:00")


def test_churn_risk_gives_the_latest_row_and_the_bulk_list(client, auth_headers):
    account = AccountFactory()
    ChurnRiskFactory(account=account, scored_on=dt.date(2026, 5, 1), p_churn_90d=0.1)
    ChurnRiskFactory(account=account, scored_on=dt.date(2026, 5, 2), p_churn_90d=0.4)
    headers = auth_headers("read:scores")
    latest = client.get(f"/api/v1/accounts/{account.id}/churn-risk", headers=headers).get_json()
    assert latest["p_churn_90d"] == 0.4
    assert len(client.get("/api/v1/churn-risks", headers=headers).get_json()["data"]) == 2


def test_survey_responses_since_a_time(client, auth_headers):
    SurveyResponseFactory(responded_at=dt.datetime(2026, 3, 1, 8))
    recent = SurveyResponseFactory(responded_at=dt.datetime(2026, 3, 20, 8), score=3)
    body = client.get(
        "/api/v1/survey-responses?since=2026-03-10T00:00:00Z", headers=auth_headers("read:surveys")
    ).get_json()
    assert [(row["id"], row["score"]) for row in body["data"]] == [(recent.id, 3)]


def test_survey_responses_updated_since_bring_changed_comments_and_scores_in_change_order(
    client, auth_headers
):
    march, april = dt.datetime(2026, 3, 1, 8), dt.datetime(2026, 4, 2, 9)
    untouched = SurveyResponseFactory(responded_at=march, changed_at=march)
    commented = SurveyResponseFactory(responded_at=march, changed_at=march, comment=None)
    new = SurveyResponseFactory(responded_at=april, changed_at=april)
    commented.comment = "Exports got slow"
    commented.updated_at = commented.changed_at = dt.datetime(2026, 4, 3, 10)
    db.session.commit()

    body = client.get(
        "/api/v1/survey-responses?updated_since=2026-04-01T00:00:00%2B02:00",
        headers=auth_headers("read:surveys"),
    ).get_json()

    assert [row["id"] for row in body["data"]] == [new.id, commented.id]
    assert body["data"][1]["comment"] == "Exports got slow"
    assert body["data"][1]["updated_at"] == "2026-04-03T10:00:00+00:00"
    assert body["data"][0]["updated_at"] is None
    assert untouched.id not in {row["id"] for row in body["data"]}


def test_nps_by_month_and_segment(client, auth_headers):
    survey = SurveyFactory(kind="nps")
    smb, enterprise = AccountFactory(segment="smb"), AccountFactory(segment="enterprise")
    march = dt.datetime(2026, 3, 5)
    for account, score in ((smb, 10), (smb, 9), (smb, 3), (enterprise, 7)):
        SurveyResponseFactory(survey=survey, account=account, score=score, responded_at=march)
    SurveyResponseFactory(survey=survey, account=smb, score=0, responded_at=dt.datetime(2026, 4, 2))
    body = client.get(
        "/api/v1/survey-metrics?kind=nps&period=month&until=2026-03-31",
        headers=auth_headers("read:surveys"),
    ).get_json()
    rows = {(row["period"], row["segment"]): row for row in body["data"]}
    assert set(rows) == {("2026-03", "smb"), ("2026-03", "enterprise")}
    assert rows[("2026-03", "smb")]["n"] == 3
    assert rows[("2026-03", "smb")]["value"] == pytest.approx(100 * (2 - 1) / 3)
    assert rows[("2026-03", "enterprise")]["passives"] == 1


def test_tasks_are_listed_by_status(client, auth_headers):
    open_task = TaskFactory()
    TaskFactory(status="done", reason="other")
    body = client.get("/api/v1/tasks?status=open", headers=auth_headers("read:scores")).get_json()
    assert [row["id"] for row in body["data"]] == [open_task.id]


def test_patch_changes_crm_fields_and_names_a_bad_field(client, auth_headers, make_user):
    account = AccountFactory()
    owner = make_user("csm")
    headers = auth_headers("write:accounts", "read:scores")
    response = client.patch(
        f"/api/v1/accounts/{account.id}",
        json={"arr": 120000.5, "renewal_date": "2027-06-30", "owner_email": owner.email},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.get_json()["owner_id"] == owner.id
    db.session.expire_all()
    stored = db.session.get(Account, account.id)
    assert (float(stored.arr), stored.renewal_date) == (120000.5, dt.date(2027, 6, 30))
    details = assert_error(
        client.patch(f"/api/v1/accounts/{account.id}", json={"seats": -1}, headers=headers),
        422,
        "unprocessable_entity",
    )
    assert "seats" in details["json"]
    details = assert_error(
        client.patch(
            f"/api/v1/accounts/{account.id}", json={"owner_email": "nobody@x.io"}, headers=headers
        ),
        422,
        "unprocessable_entity",
    )
    assert "owner_email" in details["json"]


def test_a_write_only_key_cannot_read_an_account_through_its_writes(client, auth_headers):
    account = AccountFactory(name="Initech", arr=90000)
    headers = auth_headers("write:accounts")

    patched = client.patch(f"/api/v1/accounts/{account.id}", json={}, headers=headers)
    body = {"name": "Globex", "segment": "smb", "plan": "growth", "seats": 12}
    upserted = client.put("/api/v1/accounts/external/hubspot/55", json=body, headers=headers)

    assert (patched.status_code, patched.data) == (204, b"")
    assert (upserted.status_code, upserted.data) == (204, b"")


@pytest.mark.parametrize("role", ["viewer", "unknown", "inactive"])
def test_owner_email_takes_only_active_csms_and_admins_and_says_the_same_otherwise(
    client, auth_headers, make_user, role
):
    account = AccountFactory()
    email = "nobody@example.com"
    if role != "unknown":
        user = make_user("viewer" if role == "viewer" else "csm")
        user.active = role != "inactive"
        db.session.commit()
        email = user.email

    response = client.patch(f"/api/v1/accounts/{account.id}", json={"owner_email": email},
                            headers=auth_headers("write:accounts"))  # fmt: skip

    details = assert_error(response, 422, "unprocessable_entity")
    assert details["json"]["owner_email"] == [
        "no active CSM or admin can own accounts as this email"
    ]


def test_an_owner_change_through_the_api_is_audited_with_the_key(client, auth_headers, make_user):
    account = AccountFactory(name="Initech")
    owner = make_user("csm")
    headers = auth_headers("write:accounts")

    client.patch(f"/api/v1/accounts/{account.id}", json={"owner_email": owner.email},
                 headers=headers)  # fmt: skip

    entry = audit_trail()[-1]
    assert (entry.action, entry.target) == ("account.owner_changed", "Initech")
    assert entry.details["to"] == owner.email
    assert headers["Authorization"].removeprefix("Bearer ").startswith(entry.details["api_key"])


def test_writes_need_the_write_scope(client, auth_headers):
    account = AccountFactory()
    response = client.patch(
        f"/api/v1/accounts/{account.id}", json={"seats": 3}, headers=auth_headers("read:scores")
    )
    assert_error(response, 403, "forbidden")


def test_upsert_by_crm_id_creates_then_updates_one_account(client, auth_headers):
    headers = auth_headers("write:accounts", "read:scores")
    body = {"name": "Globex", "segment": "smb", "plan": "growth", "seats": 12}
    created = client.put("/api/v1/accounts/external/hubspot/987", json=body, headers=headers)
    assert created.status_code == 201, created.text
    updated = client.put(
        "/api/v1/accounts/external/hubspot/987", json=body | {"seats": 30}, headers=headers
    )
    assert updated.status_code == 200
    assert updated.get_json()["id"] == created.get_json()["id"]
    assert updated.get_json()["seats"] == 30
    assert updated.get_json()["external_ids"] == [{"source": "hubspot", "external_id": "987"}]
    assert db.session.query(ExternalId).count() == 1


def test_upserts_and_patches_keep_the_crm_values_they_replace_for_features_of_past_days(
    client, auth_headers
):
    headers = auth_headers("write:accounts", "read:scores")
    url = "/api/v1/accounts/external/hubspot/987"
    body = {"name": "Globex", "segment": "mid_market", "plan": "growth", "seats": 40}
    body |= {"arr": 50000, "contract_start": "2025-01-01"}
    account_id = client.put(url, json=body, headers=headers).get_json()["id"]
    cut = body | {"plan": "starter", "seats": 25, "name": "Globex Corp"}
    assert client.put(url, json=cut, headers=headers).status_code == 200
    cut_arr = {"arr": 30000.5}
    for _twice in range(2):  # the second writes the same ARR: no new history
        patch = client.patch(f"/api/v1/accounts/{account_id}", json=cut_arr, headers=headers)
        assert patch.status_code == 200, patch.text

    columns = (AccountChange.field, AccountChange.old_value, AccountChange.new_value)
    history = db.session.execute(
        select(*columns, AccountChange.source).order_by(AccountChange.id)
    ).all()
    assert history == [
        ("plan", "growth", "starter", "api"),
        ("seats", "40", "25", "api"),
        ("arr", "50000.00", "30000.50", "api"),
    ]
    today = utcnow().date()
    fields = ["arr", "plan", "seats", "segment"]
    before = features_as_of(today - dt.timedelta(days=1)).loc[account_id, fields]
    now = features_as_of(today).loc[account_id, fields]
    assert before.tolist() == [50000.0, "growth", 40.0, "mid_market"]
    assert now.tolist() == [30000.5, "starter", 25.0, "mid_market"]


def test_upsert_without_the_required_fields_or_with_a_bad_crm_id_is_a_422(client, auth_headers):
    headers = auth_headers("admin")
    response = client.put("/api/v1/accounts/external/hubspot/1", json={"seats": 3}, headers=headers)
    assert set(assert_error(response, 422, "unprocessable_entity")["json"]) == {
        "name",
        "segment",
        "plan",
    }
    body = {"name": "Initech", "segment": "smb", "plan": "starter"}
    response = client.put("/api/v1/accounts/external/Hub%20Spot/1", json=body, headers=headers)
    assert "source" in assert_error(response, 422, "unprocessable_entity")["path"]


def test_the_openapi_document_and_its_page_are_served(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/accounts/{account_id}/health" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "/api/v1/health-scores" in page.text


def test_an_unknown_query_parameter_is_a_422_not_silently_ignored(client, auth_headers):
    details = assert_error(
        client.get("/api/v1/health-scores?updated_snce=2026-01-01", headers=auth_headers()),
        422,
        "unprocessable_entity",
    )
    assert "updated_snce" in details["query"]
