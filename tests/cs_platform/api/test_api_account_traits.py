"""Custom account traits through the API: typed on first use or declared, shown, filtered."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import Account, AccountTrait, TraitDefinition
from tests.factories import AccountFactory


def patch_traits(client, headers, account: Account, traits: dict):
    return client.patch(f"/api/v1/accounts/{account.id}", json={"traits": traits}, headers=headers)


@pytest.fixture
def book(client, auth_headers) -> dict[str, Account]:
    """Three accounts with a string, a number, a boolean and a date trait each."""
    headers = auth_headers()
    accounts = {name: AccountFactory(name=name) for name in ("Acme", "Globex", "Initech")}
    values = {
        "Acme": {"tier": "gold", "licences": 250, "sso": True, "go_live": "2026-03-01"},
        "Globex": {"tier": "silver", "licences": 40, "sso": False, "go_live": "2026-09-15"},
        "Initech": {"tier": "gold", "licences": 90, "go_live": "2025-11-30"},
    }
    for name, traits in values.items():
        assert patch_traits(client, headers, accounts[name], traits).status_code == 200
    return accounts


def names(client, headers, *filters: str) -> list[str]:
    query = "&".join(f"trait={spec}" for spec in filters)
    response = client.get(f"/api/v1/accounts?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [row["name"] for row in response.get_json()["data"]]


def test_first_values_fix_each_traits_type(book):
    types = dict(db.session.execute(select(TraitDefinition.key, TraitDefinition.type)).all())

    assert types == {"tier": "string", "licences": "number", "sso": "boolean", "go_live": "date"}


def test_an_account_shows_its_traits_as_json_values(client, auth_headers, book):
    body = client.get(f"/api/v1/accounts/{book['Acme'].id}", headers=auth_headers()).get_json()

    assert body["traits"] == {
        "go_live": "2026-03-01",
        "licences": 250,
        "sso": True,
        "tier": "gold",
    }


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (("tier:gold",), ["Acme", "Initech"]),
        (("tier:eq:gold",), ["Acme", "Initech"]),
        (("tier:ne:gold",), ["Globex"]),
        (("licences:gt:90",), ["Acme"]),
        (("licences:gte:90",), ["Acme", "Initech"]),
        (("licences:lt:90",), ["Globex"]),
        (("licences:lte:90",), ["Globex", "Initech"]),
        (("sso:true",), ["Acme"]),
        (("sso:false",), ["Globex"]),
        (("go_live:lt:2026-01-01",), ["Initech"]),
        (("tier:gold", "licences:gt:100"), ["Acme"]),
    ],
)
def test_trait_filters_compare_by_type(client, auth_headers, book, filters, expected):
    assert names(client, auth_headers(), *filters) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("colour:red", "no trait 'colour' is defined"),
        ("tier:gt:gold", "gt compares number and date traits; tier is a string"),
        ("licences:gt:many", "'many' for a number trait"),
        ("sso:maybe", "'maybe' for a boolean trait: must be true or false"),
        ("go_live:gt:2026-13-01", "'2026-13-01' for a date trait"),
    ],
)
def test_a_filter_the_traits_cannot_answer_is_a_422_saying_why(
    client, auth_headers, book, spec, message
):
    response = client.get(f"/api/v1/accounts?trait={spec}", headers=auth_headers())

    assert response.status_code == 422
    assert message in response.get_json()["error"]["details"]["query"]["trait"][0]


@pytest.mark.parametrize(
    ("traits", "message"),
    [
        ({"licences": "many"}, "is a number trait: must be a number"),
        ({"licences": True}, "is a number trait: must be a number"),
        ({"sso": "yes"}, "is a boolean trait: must be true or false"),
        ({"go_live": "next week"}, "is a date trait: must be a date as YYYY-MM-DD"),
        ({"go_live": "3000-01-01"}, "is a date trait: must be a date between 1970-01-01"),
        ({"tier": 3}, "is a string trait: must be a string"),
        ({"tier": "x" * 1001}, "must be at most 1000 characters"),
        ({"tier": ["gold"]}, "must be a string"),
        ({"licences": 1e300}, "must be a finite number"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_422_changing_nothing(
    client, auth_headers, book, traits, message
):
    acme = book["Acme"]

    response = client.patch(
        f"/api/v1/accounts/{acme.id}", json={"name": "Renamed", "traits": traits},
        headers=auth_headers(),
    )  # fmt: skip

    assert response.status_code == 422
    key = next(iter(traits))
    assert message in response.get_json()["error"]["details"]["json"]["traits"][key][0]
    db.session.refresh(acme)
    assert acme.name == "Acme"
    assert acme.trait_values["tier"] == "gold"


@pytest.mark.parametrize("key", ["Tier", "1tier", "tier-name", "t" * 65])
def test_a_trait_key_must_be_lower_case_words(client, auth_headers, book, key):
    response = patch_traits(client, auth_headers(), book["Acme"], {key: "x"})

    assert response.status_code == 422


def test_null_removes_a_trait_and_a_change_moves_updated_since(client, auth_headers, book):
    acme = book["Acme"]
    before = acme.updated_at

    patch_traits(client, auth_headers(), acme, {"sso": None, "licences": 260})

    db.session.refresh(acme)
    assert acme.trait_values == {"go_live": "2026-03-01", "licences": 260, "tier": "gold"}
    assert acme.updated_at > before


def test_a_declared_trait_keeps_its_type_and_label(client, auth_headers):
    headers = auth_headers()
    account = AccountFactory()
    declared = client.put(
        "/api/v1/account-traits/contract_id", json={"type": "string", "label": "Contract"},
        headers=headers,
    )  # fmt: skip

    patched = patch_traits(client, headers, account, {"contract_id": "2026-01-01"})

    assert declared.status_code == 201
    assert declared.get_json()["label"] == "Contract"
    assert patched.get_json()["traits"] == {"contract_id": "2026-01-01"}
    assert db.session.get(TraitDefinition, "contract_id").type == "string"


def test_the_definitions_list_counts_accounts_per_trait(client, auth_headers, book):
    body = client.get("/api/v1/account-traits", headers=auth_headers("read:scores")).get_json()

    counts = {row["key"]: (row["type"], row["accounts"]) for row in body["data"]}
    assert counts == {
        "go_live": ("date", 3),
        "licences": ("number", 3),
        "sso": ("boolean", 2),
        "tier": ("string", 3),
    }
    assert body["next_cursor"] is None


def test_a_held_traits_type_cannot_change_but_its_label_can(client, auth_headers, book):
    headers = auth_headers()

    retyped = client.put("/api/v1/account-traits/tier", json={"type": "number"}, headers=headers)
    relabelled = client.put(
        "/api/v1/account-traits/tier", json={"type": "string", "label": "Support tier"},
        headers=headers,
    )  # fmt: skip

    assert retyped.status_code == 409
    assert relabelled.status_code == 200
    assert relabelled.get_json()["label"] == "Support tier"


def test_removing_a_trait_removes_every_accounts_value(client, auth_headers, book):
    headers = auth_headers()

    removed = client.delete("/api/v1/account-traits/tier", headers=headers)
    missing = client.delete("/api/v1/account-traits/tier", headers=headers)

    assert (removed.status_code, missing.status_code) == (204, 404)
    assert db.session.scalars(select(AccountTrait).where(AccountTrait.key == "tier")).all() == []


def test_trait_definitions_need_the_scopes(client, auth_headers):
    read_only = auth_headers("read:scores")

    put = client.put("/api/v1/account-traits/tier", json={"type": "string"}, headers=read_only)
    listed = client.get("/api/v1/account-traits", headers=auth_headers("write:accounts"))

    assert (put.status_code, listed.status_code) == (403, 403)
