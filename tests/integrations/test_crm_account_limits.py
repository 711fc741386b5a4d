"""CRM values an account cannot hold are refused without failing the sync: an ARR past what the
column stores is queued as invalid, and a renewal date before the account's contract start is
not written but said in the account's timeline; NUL characters, which PostgreSQL cannot store,
are dropped."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from cs_platform.extensions import db
from cs_platform.models import Account, AccountChange, TimelineEntry, utcnow
from integrations.models import UnmatchedRecord
from integrations.sync import run_sync
from scoring.features import features_as_of
from tests.factories import AccountFactory
from tests.integrations.test_hubspot_sync import company
from tests.integrations.test_salesforce_sync import sf_account

OUT_OF_RANGE_ARR = {
    "1": "1e308",
    "2": "1000000000000",
    "3": "999999999999.999",  # rounds up to one trillion, which NUMERIC(14, 2) cannot hold
    "4": "NaN",
    "5": "Infinity",
    "6": "-0.01",
}
STARTED = dt.date(2025, 3, 1)
RENEWS = dt.date(2027, 3, 1)


def queued_reasons() -> dict[str, str]:
    rows = db.session.execute(select(UnmatchedRecord.external_id, UnmatchedRecord.reason))
    return dict(rows.all())


def sync_lines(account_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(TimelineEntry.body)
            .where(TimelineEntry.account_id == account_id, TimelineEntry.kind == "sync")
            .order_by(TimelineEntry.id)
        )
    )


def renewal_history() -> int:
    query = select(func.count()).where(AccountChange.field == "renewal_date")
    return db.session.scalar(query)


def test_an_arr_the_column_cannot_hold_is_queued_and_the_largest_it_holds_is_scored(
    hubspot, hubspot_connection, no_sleep
):
    for company_id, arr in OUT_OF_RANGE_ARR.items():
        company(hubspot, company_id, f"Company {company_id}", f"c{company_id}.example", arr=arr)
    company(hubspot, "7", "Largest", "largest.example", arr="999999999999")

    run = run_sync(hubspot_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    assert (run.failed, run.created) == (len(OUT_OF_RANGE_ARR), 1)
    reasons = queued_reasons()
    assert set(reasons) == set(OUT_OF_RANGE_ARR)
    assert all("out of range (0 to 999,999,999,999)" in reason for reason in reasons.values())
    largest = db.session.scalar(select(Account))
    assert largest.arr == Decimal("999999999999.00")
    assert features_as_of(utcnow().date()).loc[largest.id, "arr"] == 999_999_999_999.0


def test_a_salesforce_revenue_that_rounds_past_the_column_is_queued(
    salesforce, salesforce_connection, no_sleep
):
    sf_account(salesforce, "001A", "Acme", "acme.example", revenue=999999999999.999)
    sf_account(salesforce, "001B", "Globex", "globex.example", revenue=250000)

    run = run_sync(salesforce_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    assert list(queued_reasons()) == ["001A"]
    assert db.session.scalar(select(Account.arr)) == Decimal("250000.00")


def test_a_company_renewal_before_the_contract_start_is_not_written_but_told(
    hubspot, hubspot_connection, no_sleep
):
    existing = AccountFactory(domain="acme.example", arr=Decimal("1000.00"),
                              contract_start=STARTED, renewal_date=RENEWS)  # fmt: skip
    company(hubspot, "1", existing.name, "acme.example", arr="1500", renewal_date="2025-02-28")

    run = run_sync(hubspot_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    db.session.refresh(existing)
    assert (existing.arr, existing.renewal_date) == (Decimal("1500.00"), RENEWS)
    assert renewal_history() == 0
    assert sync_lines(existing.id) == [
        "HubSpot CRM sync: renewal date 2025-02-28 not written: it is before the contract "
        "start 2025-03-01",
        "HubSpot CRM sync: ARR 1000.00 → 1500.00",
    ]


def test_a_renewal_deal_closing_before_the_contract_start_is_not_written_but_told(
    hubspot, hubspot_connection, no_sleep
):
    early = AccountFactory(domain="early.example", contract_start=STARTED, renewal_date=RENEWS)
    fine = AccountFactory(domain="fine.example", contract_start=STARTED, renewal_date=RENEWS)
    for company_id, account, closes in (("1", early, "2024-12-31"), ("2", fine, "2027-05-01")):
        company(hubspot, company_id, account.name, account.domain)
        hubspot.add(
            "deals",
            f"900{company_id}",
            {"dealname": "Renewal", "closedate": closes, "dealstage": "contractsent"},
            associations={"companies": {"results": [{"id": company_id}]}},
        )

    run = run_sync(hubspot_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    db.session.expire_all()
    assert db.session.get(Account, early.id).renewal_date == RENEWS
    assert db.session.get(Account, fine.id).renewal_date == dt.date(2027, 5, 1)
    assert renewal_history() == 1
    assert sync_lines(early.id) == [
        "HubSpot CRM sync: renewal date 2024-12-31 not written: it is before the contract "
        "start 2025-03-01"
    ]


@pytest.mark.parametrize("closes", ["2025-02-28", "2025-03-01"])
def test_a_salesforce_renewal_is_written_only_from_the_contract_start_on(
    salesforce, salesforce_connection, no_sleep, closes
):
    account = AccountFactory(domain="acme.example", contract_start=STARTED, renewal_date=RENEWS)
    sf_account(salesforce, "001A", account.name, "acme.example")
    salesforce.add("Opportunity", "006A", AccountId="001A", CloseDate=closes, IsClosed=False,
                   Type="Renewal")  # fmt: skip

    run = run_sync(salesforce_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    db.session.refresh(account)
    before_start = dt.date.fromisoformat(closes) < STARTED
    assert account.renewal_date == (RENEWS if before_start else STARTED)
    assert any("not written" in line for line in sync_lines(account.id)) is before_start


def test_nul_characters_from_a_crm_are_dropped_and_the_page_still_syncs(
    hubspot, hubspot_connection, no_sleep
):
    company(hubspot, "1", "Acme\x00 Inc", "acme.example", arr="12000")
    company(hubspot, "2", "Globex", "globex.example", arr="not\x00a number")
    company(hubspot, "3", "Initech", "initech.example", arr="9000")

    run = run_sync(hubspot_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    assert (run.created, run.failed) == (2, 1)
    names = set(db.session.scalars(select(Account.name)))
    assert names == {"Acme Inc", "Initech"}
    queued = db.session.scalar(select(UnmatchedRecord))
    assert "\x00" not in str(queued.payload) and queued.external_id == "2"
