"""CRM renewal dates keep to the platform's range (1970-01-01 to 2199-12-31): an evergreen date
(from 2900-01-01 on, such as 2999-12-31 or 9999-12-31) clears the account's renewal date and is
recorded like any other change; an impossible one is a bad record with the reason, never stored."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import Account, AccountChange, TimelineEntry
from integrations.accounts import EVERGREEN, BadRecord, parse_renewal_date
from integrations.models import UnmatchedRecord
from integrations.sync import run_sync
from tests.factories import AccountFactory

RENEWAL = dt.date(2027, 3, 1)


def renewal_history(account_id: int) -> list[tuple[str | None, str | None, str]]:
    rows = db.session.execute(
        select(AccountChange.old_value, AccountChange.new_value, AccountChange.source).where(
            AccountChange.account_id == account_id, AccountChange.field == "renewal_date"
        )
    )
    return [tuple(row) for row in rows]


def renewal_of(account_id: int) -> dt.date | None:
    db.session.expire_all()
    return db.session.get(Account, account_id).renewal_date


def queued_reasons() -> dict[str, str]:
    rows = db.session.execute(select(UnmatchedRecord.external_id, UnmatchedRecord.reason))
    return dict(rows.all())


@pytest.mark.parametrize(
    ("value", "read"),
    [
        ("2999-12-31", EVERGREEN),
        ("9999-12-31T00:00:00Z", EVERGREEN),
        (str(int(dt.datetime(9999, 12, 31, tzinfo=dt.UTC).timestamp() * 1000)), EVERGREEN),
        ("2199-12-31", dt.date(2199, 12, 31)),
        ("1970-01-01", dt.date(1970, 1, 1)),
        ("", None),
    ],
)
def test_a_renewal_date_reads_as_a_date_or_evergreen(value, read):
    assert parse_renewal_date(value, "closedate") == read


@pytest.mark.parametrize("value", ["2300-06-01", "2200-01-01", "2899-12-31", "1969-12-31"])
def test_a_renewal_date_outside_the_range_and_not_evergreen_is_a_bad_record(value):
    with pytest.raises(BadRecord, match=r"out of range \(between 1970-01-01 and 2199-12-31\)"):
        parse_renewal_date(value, "closedate")


def test_a_hubspot_company_with_an_evergreen_renewal_date_clears_it_like_any_change(
    hubspot, hubspot_connection, no_sleep
):
    account = AccountFactory(name="Acme", domain="acme.example", renewal_date=RENEWAL)
    hubspot.add("companies", "1", {"name": "Acme", "domain": "acme.example",
                                   "renewal_date": "9999-12-31"})  # fmt: skip

    run = run_sync(hubspot_connection, sleep=no_sleep)

    assert (run.status, run.failed) == ("succeeded", 0)
    assert renewal_of(account.id) is None
    assert renewal_history(account.id) == [("2027-03-01", None, "hubspot")]
    timeline = db.session.scalars(select(TimelineEntry.body).where(TimelineEntry.kind == "sync"))
    assert list(timeline) == [
        "HubSpot CRM sync: renewal date 2027-03-01 → none (evergreen contract)"
    ]


def test_a_hubspot_company_with_an_impossible_renewal_date_is_reported_and_not_stored(
    hubspot, hubspot_connection, no_sleep
):
    account = AccountFactory(domain="acme.example", renewal_date=RENEWAL)
    hubspot.add("companies", "1", {"name": "Acme", "domain": "acme.example",
                                   "renewal_date": "2300-01-01"})  # fmt: skip

    run = run_sync(hubspot_connection, sleep=no_sleep)

    assert (run.status, run.failed) == ("succeeded", 1)
    assert "renewal_date '2300-01-01' is out of range" in queued_reasons()["1"]
    assert renewal_of(account.id) == RENEWAL
    assert renewal_history(account.id) == []


def test_a_hubspot_renewal_deal_closing_in_9999_clears_the_renewal_date(
    hubspot, hubspot_connection, no_sleep
):
    hubspot.add("companies", "1", {"name": "Acme", "domain": "acme.example"})
    account = AccountFactory(domain="acme.example", renewal_date=RENEWAL)
    hubspot.add("deals", "9001", {"dealname": "Acme evergreen", "dealstage": "contractsent",
                                  "closedate": "9999-12-31T00:00:00Z",
                                  "associatedcompanyid": "1"})  # fmt: skip
    hubspot.add("deals", "9002", {"dealname": "Acme typo", "dealstage": "contractsent",
                                  "closedate": "2300-06-01",
                                  "associatedcompanyid": "1"})  # fmt: skip

    run = run_sync(hubspot_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    assert renewal_of(account.id) is None
    assert renewal_history(account.id) == [("2027-03-01", None, "hubspot")]
    assert "closedate '2300-06-01' is out of range" in queued_reasons()["9002"]


def test_a_salesforce_renewal_opportunity_sets_no_date_when_evergreen_and_reports_a_typo(
    salesforce, salesforce_connection, no_sleep
):
    salesforce.add("Account", "001A", Name="Acme", Website="acme.example")
    salesforce.add("Account", "001B", Name="Globex", Website="globex.example")
    acme = AccountFactory(domain="acme.example", renewal_date=RENEWAL)
    globex = AccountFactory(domain="globex.example", renewal_date=RENEWAL)
    salesforce.add("Opportunity", "006A", AccountId="001A", CloseDate="2999-12-31",
                   IsClosed=False, Type="Renewal")  # fmt: skip
    salesforce.add("Opportunity", "006B", AccountId="001B", CloseDate="2300-06-01",
                   IsClosed=False, Type="Renewal")  # fmt: skip

    run = run_sync(salesforce_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    assert (renewal_of(acme.id), renewal_of(globex.id)) == (None, RENEWAL)
    assert renewal_history(acme.id) == [("2027-03-01", None, "salesforce")]
    assert renewal_history(globex.id) == []
    assert "CloseDate '2300-06-01' is out of range" in queued_reasons()["006B"]
