"""Account writes the database could not hold, or that make no sense, are a 422 naming the field:
amounts and counts past their column, non-finite numbers, and a renewal before the contract
start. Nothing of a refused write is stored."""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from cs_platform.extensions import db
from cs_platform.models import Account, AccountChange
from tests.cs_platform.api.test_api_endpoints import assert_error
from tests.factories import AccountFactory

UPSERT_URL = "/api/v1/accounts/external/hubspot/4711"
NEW_ACCOUNT = {"name": "Globex", "segment": "smb", "plan": "growth"}
# JSON as a client sends it, so that NaN and Infinity (which Python's json writes) stay literal.
OUT_OF_RANGE = {
    "arr too large for any column": '{"arr": 1e308}',
    "arr of ten trillion": '{"arr": 1e13}',
    "arr of exactly one trillion": '{"arr": 1000000000000}',
    "arr that rounds up to one trillion": '{"arr": 999999999999.995}',
    "arr with more digits than a float": '{"arr": 1' + "0" * 400 + "}",
    "negative arr": '{"arr": -1}',
    "arr of NaN": '{"arr": NaN}',
    "arr of Infinity": '{"arr": Infinity}',
    "arr of -Infinity": '{"arr": -Infinity}',
    "seats past 32 bits": '{"seats": 2147483648}',
    "negative seats": '{"seats": -1}',
}


def send_json(client, method: str, url: str, body: str, headers: dict[str, str]):
    return client.open(
        url, method=method, data=body, headers=headers | {"Content-Type": "application/json"}
    )


def stored(account_id: int) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account_id)


def history_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AccountChange))


def account_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Account))


@pytest.mark.parametrize("body", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_a_patch_with_a_number_out_of_range_is_a_422_naming_it_and_changes_nothing(
    client, auth_headers, body
):
    account = AccountFactory(arr=Decimal("48000.00"), seats=40)
    response = send_json(
        client, "PATCH", f"/api/v1/accounts/{account.id}", body, auth_headers("write:accounts")
    )

    details = assert_error(response, 422, "unprocessable_entity")
    assert list(details["json"]) == list(json.loads(body))
    assert (stored(account.id).arr, stored(account.id).seats) == (Decimal("48000.00"), 40)
    assert history_count() == 0


@pytest.mark.parametrize("body", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_an_upsert_with_a_number_out_of_range_is_a_422_and_creates_no_account(
    client, auth_headers, body
):
    full_body = json.dumps(NEW_ACCOUNT)[:-1] + ", " + body[1:]
    response = send_json(client, "PUT", UPSERT_URL, full_body, auth_headers("write:accounts"))

    details = assert_error(response, 422, "unprocessable_entity")
    assert list(details["json"]) == list(json.loads(body))
    assert account_count() == 0


def test_the_largest_documented_arr_is_stored_and_read_back_exactly(client, auth_headers):
    spec = client.get("/api/v1/openapi.json").get_json()
    documented = spec["components"]["schemas"]["AccountWrite"]["properties"]["arr"]["maximum"]
    account = AccountFactory()

    response = client.patch(
        f"/api/v1/accounts/{account.id}",
        json={"arr": documented},
        headers=auth_headers("write:accounts", "read:scores"),
    )

    assert response.status_code == 200, response.text
    assert documented == 999_999_999_999
    assert stored(account.id).arr == Decimal("999999999999.00")
    assert response.get_json()["arr"] == 999_999_999_999


def test_an_arr_with_fractions_of_cents_is_stored_rounded_to_cents(client, auth_headers):
    account = AccountFactory()
    response = client.patch(
        f"/api/v1/accounts/{account.id}", json={"arr": 1234.567}, headers=auth_headers("admin")
    )
    assert response.status_code == 200, response.text
    assert stored(account.id).arr == Decimal("1234.57")


def test_an_upsert_of_a_new_account_renewing_before_its_start_is_a_422(client, auth_headers):
    body = NEW_ACCOUNT | {"contract_start": "2026-03-01", "renewal_date": "2026-02-28"}
    response = client.put(UPSERT_URL, json=body, headers=auth_headers("write:accounts"))

    details = assert_error(response, 422, "unprocessable_entity")
    assert details["json"] == {"renewal_date": ["must not be before contract_start 2026-03-01"]}
    assert account_count() == 0


def test_a_patch_of_both_dates_renewing_before_the_start_is_a_422(client, auth_headers):
    account = AccountFactory(contract_start=dt.date(2025, 3, 1), renewal_date=dt.date(2027, 3, 1))
    body = {"contract_start": "2028-01-01", "renewal_date": "2027-12-31"}
    response = client.patch(
        f"/api/v1/accounts/{account.id}", json=body, headers=auth_headers("write:accounts")
    )

    details = assert_error(response, 422, "unprocessable_entity")
    assert details["json"] == {"renewal_date": ["must not be before contract_start 2028-01-01"]}
    unchanged = stored(account.id)
    assert (unchanged.contract_start, unchanged.renewal_date) == (
        dt.date(2025, 3, 1),
        dt.date(2027, 3, 1),
    )
    assert history_count() == 0


def test_a_patch_of_the_renewal_alone_is_compared_with_the_stored_start(client, auth_headers):
    account = AccountFactory(contract_start=dt.date(2025, 3, 1), renewal_date=dt.date(2027, 3, 1))
    response = client.patch(
        f"/api/v1/accounts/{account.id}",
        json={"renewal_date": "2025-02-28"},
        headers=auth_headers("write:accounts"),
    )

    details = assert_error(response, 422, "unprocessable_entity")
    assert details["json"] == {"renewal_date": ["must not be before contract_start 2025-03-01"]}
    assert stored(account.id).renewal_date == dt.date(2027, 3, 1)
    assert history_count() == 0


def test_a_patch_of_the_start_alone_is_compared_with_the_stored_renewal(client, auth_headers):
    account = AccountFactory(contract_start=dt.date(2025, 3, 1), renewal_date=dt.date(2027, 3, 1))
    response = client.patch(
        f"/api/v1/accounts/{account.id}",
        json={"contract_start": "2027-03-02"},
        headers=auth_headers("write:accounts"),
    )

    details = assert_error(response, 422, "unprocessable_entity")
    assert details["json"] == {"contract_start": ["must not be after renewal_date 2027-03-01"]}
    assert stored(account.id).contract_start == dt.date(2025, 3, 1)


def test_an_upsert_of_the_renewal_alone_is_compared_with_the_stored_start(client, auth_headers):
    headers = auth_headers("write:accounts")
    first = NEW_ACCOUNT | {"contract_start": "2026-03-01", "renewal_date": "2027-03-01"}
    assert client.put(UPSERT_URL, json=first, headers=headers).status_code == 204

    later = NEW_ACCOUNT | {"renewal_date": "2026-01-31"}
    details = assert_error(client.put(UPSERT_URL, json=later, headers=headers), 422,
                           "unprocessable_entity")  # fmt: skip

    assert list(details["json"]) == ["renewal_date"]
    assert db.session.scalar(select(Account.renewal_date)) == dt.date(2027, 3, 1)


def test_moving_both_dates_past_the_stored_renewal_together_is_accepted(client, auth_headers):
    account = AccountFactory(contract_start=dt.date(2025, 3, 1), renewal_date=dt.date(2027, 3, 1))
    body = {"contract_start": "2028-01-01", "renewal_date": "2028-01-01"}
    response = client.patch(
        f"/api/v1/accounts/{account.id}", json=body, headers=auth_headers("write:accounts")
    )

    assert response.status_code == 204, response.text
    moved = stored(account.id)
    assert (moved.contract_start, moved.renewal_date) == (dt.date(2028, 1, 1), dt.date(2028, 1, 1))


def test_a_cursor_carrying_an_id_past_32_bits_is_a_422_naming_the_cursor(client, auth_headers):
    AccountFactory()
    cursor = base64.urlsafe_b64encode(json.dumps([2**70]).encode()).decode().rstrip("=")
    response = client.get(f"/api/v1/accounts?cursor={cursor}", headers=auth_headers("read:scores"))
    assert "cursor" in assert_error(response, 422, "unprocessable_entity")["query"]
