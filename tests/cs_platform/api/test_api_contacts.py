"""The contacts API: lists with filters and incremental pulls, one contact, the upsert by email a
CRM sync needs, partial changes, the email clash, validation, scopes and write-only keys."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from cs_platform.extensions import db
from cs_platform.models import Contact, utcnow
from tests.cs_platform.api.test_api_endpoints import assert_error
from tests.factories import AccountFactory, ContactFactory

URL = "/api/v1/contacts"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.get_json()["data"]]


def contact_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Contact))


@pytest.fixture
def reader(auth_headers) -> dict[str, str]:
    return auth_headers("read:contacts")


@pytest.fixture
def writer(auth_headers) -> dict[str, str]:
    return auth_headers("read:contacts", "write:contacts")


def test_contacts_are_listed_oldest_first_and_narrowed_by_account_role_and_email(client, reader):
    acme, globex = AccountFactory(name="Acme"), AccountFactory(name="Globex")
    ana = ContactFactory(account=acme, email="ana.lima@acme.example", role="champion")
    ben = ContactFactory(account=acme, email="ben@acme.example", role="billing")
    cleo = ContactFactory(account=globex, email="cleo@globex.example", role="champion")

    assert ids(client.get(URL, headers=reader)) == [ana.id, ben.id, cleo.id]
    assert ids(client.get(f"{URL}?account_id={acme.id}", headers=reader)) == [ana.id, ben.id]
    assert ids(client.get(f"{URL}?role=champion", headers=reader)) == [ana.id, cleo.id]
    assert ids(client.get(f"{URL}?email=Ana.Lima@ACME.example", headers=reader)) == [ana.id]


def test_updated_since_lists_the_contacts_changed_since_in_the_order_of_their_change(
    client, reader
):
    march, april = dt.datetime(2026, 3, 2, 9), dt.datetime(2026, 4, 2, 9)
    untouched, unsubscribed, added = (ContactFactory() for _ in range(3))
    for contact, changed in ((untouched, march), (unsubscribed, march), (added, april)):
        contact.updated_at = changed
    db.session.commit()
    unsubscribed.unsubscribed_at = utcnow()  # the survey pages' unsubscribe: a change too
    db.session.commit()

    response = client.get(f"{URL}?updated_since=2026-04-01T00:00:00%2B02:00", headers=reader)

    assert ids(response) == [added.id, unsubscribed.id]
    row = response.get_json()["data"][1]
    assert row["unsubscribed"] is True
    assert row["updated_at"] > "2026-04-02T09:00:00+00:00"


def test_pages_of_either_order_walk_every_contact_once(client, reader):
    made = [ContactFactory().id for _ in range(3)]
    for query in ("", "updated_since=2000-01-01T00:00:00Z&"):
        seen, cursor = [], ""
        while cursor is not None:
            body = client.get(f"{URL}?{query}limit=2&cursor={cursor}", headers=reader).get_json()
            seen += [row["id"] for row in body["data"]]
            cursor = body["next_cursor"]
        assert seen == made


def test_a_cursor_of_the_other_order_is_a_422_naming_cursor(client, reader):
    ContactFactory.create_batch(2)
    cursor = client.get(f"{URL}?limit=1", headers=reader).get_json()["next_cursor"]
    response = client.get(
        f"{URL}?limit=1&cursor={cursor}&updated_since=2000-01-01T00:00:00Z", headers=reader
    )
    assert "cursor" in assert_error(response, 422, "unprocessable_entity")["query"]


def test_one_contact_shows_its_flags_and_utc_times(client, reader):
    contact = ContactFactory(
        name="Ana Lima", role="decision_maker", locale="de", bounced_at=dt.datetime(2026, 5, 1)
    )
    body = client.get(f"{URL}/{contact.id}", headers=reader).get_json()
    assert body | {"created_at": None, "updated_at": None} == {
        "id": contact.id,
        "account_id": contact.account_id,
        "email": contact.email,
        "name": "Ana Lima",
        "role": "decision_maker",
        "locale": "de",
        "timezone": "Europe/Berlin",
        "unsubscribed": False,
        "bounced": True,
        "last_surveyed_at": None,
        "created_at": None,
        "updated_at": None,
    }
    assert body["updated_at"].endswith("+00:00")


def test_an_unknown_contact_is_a_json_404(client, reader):
    assert_error(client.get(f"{URL}/999999", headers=reader), 404, "not_found")


def test_posting_a_new_email_creates_the_contact_with_201_lower_cased_with_defaults(client, writer):
    account = AccountFactory()
    body = {"account_id": account.id, "email": " Ana.Lima@Acme.Example ", "name": "Ana Lima"}

    response = client.post(URL, json=body, headers=writer)

    assert response.status_code == 201, response.text
    created = response.get_json()
    assert (created["email"], created["account_id"]) == ("ana.lima@acme.example", account.id)
    assert (created["role"], created["locale"], created["timezone"]) == ("user", "en", "UTC")
    assert db.session.get(Contact, created["id"]).name == "Ana Lima"


def test_posting_an_email_the_account_has_in_any_case_updates_that_contact_with_200(client, writer):
    contact = ContactFactory(email="Ana@Acme.example", role="user", timezone="Europe/Berlin")
    body = {"account_id": contact.account_id, "email": "ana@acme.example", "name": "Ana Lima",
            "role": "champion", "locale": "es"}  # fmt: skip

    response = client.post(URL, json=body, headers=writer)

    assert response.status_code == 200, response.text
    assert response.get_json()["id"] == contact.id
    db.session.expire_all()
    stored = db.session.get(Contact, contact.id)
    assert (stored.email, stored.role, stored.locale) == ("ana@acme.example", "champion", "es")
    assert stored.timezone == "Europe/Berlin"  # not sent: kept
    assert contact_count() == 1


def test_the_same_email_in_another_account_is_another_contact(client, writer):
    contact = ContactFactory(email="ana@partner.example")
    other = AccountFactory()
    body = {"account_id": other.id, "email": contact.email, "name": "Ana Lima"}
    assert client.post(URL, json=body, headers=writer).status_code == 201
    assert contact_count() == 2


def test_repeating_a_post_answers_200_with_the_same_contact_and_changes_nothing(client, writer):
    account = AccountFactory()
    body = {"account_id": account.id, "email": "ana@acme.example", "name": "Ana Lima",
            "role": "champion", "timezone": "America/New_York"}  # fmt: skip
    first = client.post(URL, json=body, headers=writer)
    again = client.post(URL, json=body, headers=writer)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() | {"updated_at": None} == first.get_json() | {"updated_at": None}
    assert contact_count() == 1


def test_patch_changes_the_fields_sent_and_keeps_the_others(client, writer):
    contact = ContactFactory(name="Ana Lima", role="user", locale="en")
    response = client.patch(
        f"{URL}/{contact.id}", json={"role": "executive", "timezone": "Asia/Tokyo"}, headers=writer
    )
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert (body["name"], body["role"], body["locale"]) == ("Ana Lima", "executive", "en")
    assert body["timezone"] == "Asia/Tokyo"
    assert body["updated_at"] >= body["created_at"]


def test_patching_to_an_email_another_contact_of_the_account_has_is_a_409(client, writer):
    ana = ContactFactory(email="ana@acme.example")
    ben = ContactFactory(account=ana.account, email="ben@acme.example")

    response = client.patch(f"{URL}/{ben.id}", json={"email": "ANA@acme.example"}, headers=writer)

    error = assert_error(response, 409, "conflict")
    assert response.get_json()["error"]["message"] == (
        f"account {ana.account_id} already has a contact with ana@acme.example"
    )
    assert error == {}
    db.session.expire_all()
    assert db.session.get(Contact, ben.id).email == "ben@acme.example"


def test_a_new_email_address_clears_a_bounce_of_the_old_one(client, writer):
    contact = ContactFactory(email="ana@old.example", bounced_at=dt.datetime(2026, 5, 1))
    body = client.patch(
        f"{URL}/{contact.id}", json={"email": "ana@new.example"}, headers=writer
    ).get_json()
    assert (body["email"], body["bounced"]) == ("ana@new.example", False)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-address"),
        ("email", "a" * 250 + "@x.io"),
        ("name", ""),
        ("name", "x" * 201),
        ("role", "ceo"),
        ("locale", "pt"),
        ("timezone", "Mars/Olympus_Mons"),
        ("timezone", "CEST"),
    ],
)
def test_a_value_the_contact_cannot_hold_is_a_422_naming_the_field(client, writer, field, value):
    account = AccountFactory()
    body = {"account_id": account.id, "email": "ana@acme.example", "name": "Ana"}
    response = client.post(URL, json=body | {field: value}, headers=writer)
    assert field in assert_error(response, 422, "unprocessable_entity")["json"]
    assert contact_count() == 0


def test_an_unknown_account_is_a_422_naming_account_id(client, writer):
    body = {"account_id": 424242, "email": "ana@acme.example", "name": "Ana"}
    details = assert_error(client.post(URL, json=body, headers=writer), 422, "unprocessable_entity")
    assert details["json"] == {"account_id": ["no account with id 424242"]}


def test_a_post_without_the_required_fields_is_a_422_naming_them(client, writer):
    response = client.post(URL, json={"role": "user"}, headers=writer)
    details = assert_error(response, 422, "unprocessable_entity")
    assert set(details["json"]) == {"account_id", "email", "name"}


def test_contacts_need_a_key_and_their_scopes(client, auth_headers):
    contact = ContactFactory()
    assert_error(client.get(URL), 401, "unauthorized")
    scores = auth_headers("read:scores", "write:accounts")
    assert_error(client.get(f"{URL}/{contact.id}", headers=scores), 403, "forbidden")
    reader = auth_headers("read:contacts")
    body = {"account_id": contact.account_id, "email": "ben@acme.example", "name": "Ben"}
    assert_error(client.post(URL, json=body, headers=reader), 403, "forbidden")
    assert_error(client.patch(f"{URL}/{contact.id}", json={}, headers=reader), 403, "forbidden")
    assert client.get(URL, headers=auth_headers("admin")).status_code == 200


def test_a_write_only_key_gets_204_and_never_the_contact(client, auth_headers):
    contact = ContactFactory()
    headers = auth_headers("write:contacts")
    body = {"account_id": contact.account_id, "email": "ben@acme.example", "name": "Ben"}

    posted = client.post(URL, json=body, headers=headers)
    patched = client.patch(f"{URL}/{contact.id}", json={"name": "Ana"}, headers=headers)

    assert (posted.status_code, posted.data) == (204, b"")
    assert (patched.status_code, patched.data) == (204, b"")
    assert contact_count() == 2


def test_the_document_requires_every_answer_field_and_names_the_enums(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for name in ("Contact", "Invitation", "ContactPage"):
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]), name
    assert schemas["Contact"]["properties"]["role"]["$ref"] == "#/components/schemas/ContactRole"
    assert schemas["Locale"] == {"type": "string", "enum": ["en", "de", "fr", "es"]}
    post = spec["paths"]["/api/v1/contacts"]["post"]
    assert post["operationId"] == "upsert_contact" and post["tags"] == ["Contacts"]
    assert set(post["responses"]) >= {"200", "201", "204", "409", "422"}
