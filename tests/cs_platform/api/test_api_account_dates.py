"""Account dates the API accepts are ones the database and the nightly scoring can both hold
(1970-01-01 to 2199-12-31); a CRM's evergreen renewal date (from 2900-01-01 on, such as 2999-12-31
or 9999-12-31) means no renewal date and is stored as null. Anything else is a 422 naming the
field, and nothing of the write is stored."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import Account, AccountChange
from tests.cs_platform.api.test_api_endpoints import assert_error
from tests.factories import AccountFactory

UPSERT_URL = "/api/v1/accounts/external/hubspot/4711"
NEW_ACCOUNT = {"name": "Globex", "segment": "smb", "plan": "growth"}
RENEWAL = dt.date(2027, 3, 1)


def stored(account_id: int) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account_id)


def history() -> list[tuple[str, str | None, str | None]]:
    rows = db.session.execute(
        select(AccountChange.field, AccountChange.old_value, AccountChange.new_value)
    )
    return [tuple(row) for row in rows]


@pytest.mark.parametrize("evergreen", ["2999-12-31", "9999-12-31", "2900-01-01"])
def test_an_evergreen_renewal_date_is_stored_and_returned_as_no_renewal_date(
    client, auth_headers, evergreen
):
    account = AccountFactory(renewal_date=RENEWAL)

    response = client.patch(
        f"/api/v1/accounts/{account.id}",
        json={"renewal_date": evergreen},
        headers=auth_headers("write:accounts", "read:scores"),
    )

    assert response.status_code == 200, response.text
    assert response.get_json()["renewal_date"] is None
    assert stored(account.id).renewal_date is None
    assert history() == [("renewal_date", "2027-03-01", None)]


def test_an_upsert_with_an_evergreen_renewal_creates_the_account_without_one(client, auth_headers):
    body = NEW_ACCOUNT | {"contract_start": "2026-03-01", "renewal_date": "9999-12-31"}

    response = client.put(
        UPSERT_URL, json=body, headers=auth_headers("write:accounts", "read:scores")
    )

    assert response.status_code == 201, response.text
    assert response.get_json()["renewal_date"] is None
    assert db.session.scalar(select(Account.renewal_date)) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("renewal_date", "2300-06-01"),
        ("renewal_date", "2200-01-01"),
        ("renewal_date", "2899-12-31"),
        ("renewal_date", "1000-01-01"),
        ("contract_start", "1000-01-01"),
        ("contract_start", "2999-12-31"),
        ("churned_at", "2300-01-01"),
        ("churned_at", "1969-12-31"),
    ],
)
def test_a_date_outside_the_range_is_a_422_naming_the_field_and_stores_nothing(
    client, auth_headers, field, value
):
    account = AccountFactory(renewal_date=RENEWAL)

    response = client.patch(
        f"/api/v1/accounts/{account.id}",
        json={field: value},
        headers=auth_headers("write:accounts"),
    )

    details = assert_error(response, 422, "unprocessable_entity")
    assert list(details["json"]) == [field]
    assert "between 1970-01-01 and 2199-12-31" in details["json"][field][0]
    assert stored(account.id).renewal_date == RENEWAL
    assert history() == []


@pytest.mark.parametrize("value", ["1970-01-01", "2199-12-31"])
def test_the_first_and_last_day_of_the_range_are_stored(client, auth_headers, value):
    account = AccountFactory(contract_start=None, renewal_date=None)

    response = client.patch(
        f"/api/v1/accounts/{account.id}",
        json={"renewal_date": value},
        headers=auth_headers("write:accounts"),
    )

    assert response.status_code == 204, response.text
    assert stored(account.id).renewal_date == dt.date.fromisoformat(value)


def test_an_upsert_with_a_date_outside_the_range_creates_no_account(client, auth_headers):
    body = NEW_ACCOUNT | {"renewal_date": "2300-01-01"}

    response = client.put(UPSERT_URL, json=body, headers=auth_headers("write:accounts"))

    assert list(assert_error(response, 422, "unprocessable_entity")["json"]) == ["renewal_date"]
    assert db.session.scalar(select(Account.id)) is None


def test_the_openapi_document_states_the_range_and_the_evergreen_rule(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    fields = spec["components"]["schemas"]["AccountWrite"]["properties"]

    assert "between 1970-01-01 and 2199-12-31" in fields["contract_start"]["description"]
    assert "from 2900-01-01 on means no renewal date" in fields["renewal_date"]["description"]
    assert fields["renewal_date"]["format"] == "date"
