"""Bulk upsert of accounts by CRM id: hundreds per request, each row checked alone, idempotent."""

from __future__ import annotations

import gzip
import json

from sqlalchemy import func, select

from cs_platform.extensions import db
from cs_platform.models import Account, AccountChange, AuditEntry, ExternalId, TraitDefinition
from tests.factories import AccountFactory, ExternalIdFactory

URL = "/api/v1/accounts/bulk"
GZIP = {"Content-Encoding": "gzip"}


def crm_row(number: int, **fields) -> dict:
    """An account as a HubSpot sync sends it."""
    return {
        "source": "hubspot",
        "external_id": f"{4700 + number}",
        "name": f"Company {number}",
        "segment": "mid_market",
        "plan": "growth",
        "arr": 24000 + number,
        "seats": 20,
        "contract_start": "2026-01-01",
        "renewal_date": "2027-01-01",
        **fields,
    }


def post(client, headers, rows):
    response = client.post(URL, json={"accounts": rows}, headers=headers)
    assert response.status_code == 200, response.text
    return response.get_json()


def test_a_batch_creates_every_account_and_links_its_crm_id(client, auth_headers):
    body = post(client, auth_headers(), [crm_row(n) for n in range(300)])

    assert body["summary"] == {"created": 300, "updated": 0, "unchanged": 0, "failed": 0}
    assert [row["index"] for row in body["results"]] == list(range(300))
    first = body["results"][0]
    assert first["status"] == "created" and first["errors"] is None
    account = db.session.get(Account, first["account_id"])
    assert (account.name, account.arr, str(account.renewal_date)) == (
        "Company 0",
        24000,
        "2027-01-01",
    )
    assert account.external_ids[0].external_id == "4700"
    assert db.session.scalar(select(func.count()).select_from(ExternalId)) == 300


def test_sending_the_same_batch_again_changes_nothing(client, auth_headers):
    headers = auth_headers()
    rows = [crm_row(n, traits={"tier": "gold"}) for n in range(5)]
    post(client, headers, rows)
    stamps = db.session.execute(select(Account.id, Account.updated_at)).all()

    again = post(client, headers, rows)

    assert again["summary"] == {"created": 0, "updated": 0, "unchanged": 5, "failed": 0}
    db.session.expire_all()
    assert db.session.execute(select(Account.id, Account.updated_at)).all() == stamps
    assert db.session.scalar(select(func.count()).select_from(AccountChange)) == 0


def test_a_changed_row_updates_its_account_and_keeps_the_value_replaced(client, auth_headers):
    account = AccountFactory(name="Initech", arr=50000, segment="smb", plan="starter")
    ExternalIdFactory(account=account, source="hubspot", external_id="4701")

    body = post(client, auth_headers(), [crm_row(1, name="Initech", arr=65000)])

    assert body["results"][0] | {"errors": None} == {
        "index": 0,
        "status": "updated",
        "source": "hubspot",
        "external_id": "4701",
        "account_id": account.id,
        "errors": None,
    }
    db.session.refresh(account)
    assert account.arr == 65000
    change = db.session.scalars(select(AccountChange).where(AccountChange.field == "arr")).one()
    assert (change.old_value, change.new_value) == ("50000.00", "65000.00")


def test_a_bad_row_is_reported_and_the_others_are_written(client, auth_headers):
    rows = [
        crm_row(0),
        crm_row(1, segment="galactic"),
        crm_row(2, renewal_date="2025-01-01"),
        crm_row(3, owner_email="nobody@example.com"),
        crm_row(4, traits={"tier": "gold"}),
        {"source": "hubspot"},
        "not an object",
    ]

    response = client.post(URL, json={"accounts": rows}, headers=auth_headers())

    assert response.status_code == 422  # a row that is not an object refuses the batch
    body = post(client, auth_headers(), rows[:6])
    statuses = [row["status"] for row in body["results"]]
    assert statuses == ["created", "failed", "failed", "failed", "created", "failed"]
    errors = [row["errors"] for row in body["results"]]
    assert "segment" in errors[1]
    assert errors[2] == {"renewal_date": ["must not be before contract_start 2026-01-01"]}
    assert errors[3] == {"owner_email": ["no active CSM or admin can own accounts as this email"]}
    assert set(errors[5]) == {"external_id", "name", "segment", "plan"}
    assert body["summary"] == {"created": 2, "updated": 0, "unchanged": 0, "failed": 4}
    assert db.session.scalar(select(func.count()).select_from(Account)) == 2


def test_a_row_repeating_an_earlier_crm_id_is_refused_not_guessed(client, auth_headers):
    body = post(client, auth_headers(), [crm_row(1), crm_row(1, name="Other name")])

    assert [row["status"] for row in body["results"]] == ["created", "failed"]
    assert body["results"][1]["errors"] == {
        "external_id": ["repeats the CRM id of row 0 of this batch"]
    }
    assert db.session.scalars(select(Account.name)).all() == ["Company 1"]


def test_owners_are_assigned_from_their_emails_and_audited(client, auth_headers, make_user):
    owner = make_user("csm")

    body = post(client, auth_headers(), [crm_row(n, owner_email=owner.email) for n in range(3)])

    ids = [row["account_id"] for row in body["results"]]
    owners = db.session.scalars(select(Account.owner_id).where(Account.id.in_(ids))).all()
    assert owners == [owner.id] * 3
    audited = select(func.count()).where(AuditEntry.action == "account.owner_changed")
    assert db.session.scalar(audited) == 3


def test_a_trait_of_the_wrong_type_fails_only_its_row(client, auth_headers):
    headers = auth_headers()
    post(client, headers, [crm_row(0, traits={"licences": 250})])

    body = post(client, headers, [crm_row(1, traits={"licences": "many"}), crm_row(2)])

    assert [row["status"] for row in body["results"]] == ["failed", "created"]
    assert body["results"][0]["errors"] == {
        "traits": {"licences": ["is a number trait: must be a number"]}
    }


def test_the_envelope_is_checked_as_a_whole(client, auth_headers):
    headers = auth_headers()
    too_many = {"accounts": [crm_row(n) for n in range(501)]}

    for body in ({}, {"accounts": []}, too_many, {"accounts": {"a": 1}}):
        response = client.post(URL, json=body, headers=headers)
        assert response.status_code == 422, body
        assert "accounts" in response.get_json()["error"]["details"]["json"]


def test_a_batch_needs_the_write_scope_and_a_write_only_key_sees_only_ids(client, auth_headers):
    refused = client.post(URL, json={"accounts": [crm_row(0)]}, headers=auth_headers("read:scores"))

    body = post(client, auth_headers("write:accounts"), [crm_row(0)])

    assert refused.status_code == 403
    assert set(body["results"][0]) == {
        "index",
        "status",
        "source",
        "external_id",
        "account_id",
        "errors",
    }


def test_a_crm_id_must_match_its_pattern_whole(client, auth_headers):
    rows = [crm_row(0, source="h" * 33), crm_row(1, external_id="47 11"), crm_row(2)]

    body = post(client, auth_headers(), rows)

    assert [row["status"] for row in body["results"]] == ["failed", "failed", "created"]
    assert set(body["results"][0]["errors"]) == {"source"}
    assert set(body["results"][1]["errors"]) == {"external_id"}


def test_a_gzip_batch_is_read_and_an_unknown_encoding_is_a_415(client, auth_headers):
    headers = auth_headers() | {"Content-Type": "application/json"}
    body = json.dumps({"accounts": [crm_row(n) for n in range(50)]}).encode()

    zipped = client.post(URL, data=gzip.compress(body), headers=headers | GZIP)
    brotli = client.post(URL, data=body, headers=headers | {"Content-Encoding": "br"})

    assert zipped.status_code == 200
    assert zipped.get_json()["summary"]["created"] == 50
    assert brotli.status_code == 415
    assert "send gzip, deflate or none" in brotli.get_json()["error"]["message"]


def test_a_row_refused_for_another_field_defines_none_of_its_new_traits(client, auth_headers):
    row = crm_row(0, owner_email="nobody@example.com", traits={"tier": "gold"})

    body = post(client, auth_headers(), [row])

    assert body["summary"]["failed"] == 1
    assert db.session.get(TraitDefinition, "tier") is None
