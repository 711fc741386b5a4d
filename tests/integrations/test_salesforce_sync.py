"""Salesforce accounts and renewal opportunities against a fake Salesforce over real HTTP."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from cs_platform.extensions import db
from cs_platform.models import Account
from integrations.models import UnmatchedRecord
from integrations.sync import run_sync
from tests.factories import AccountFactory


def sf_account(fake, record_id: str, name: str, website: str, *, revenue=None, owner=None) -> None:
    fake.add("Account", record_id, Name=name, Website=website, AnnualRevenue=revenue,
             Owner={"Email": owner} if owner else None)  # fmt: skip


def test_accounts_sync_through_next_records_url_pages(
    salesforce, salesforce_connection, make_user, no_sleep
):
    salesforce.batch_size = 50
    owner = make_user("csm", email="ae@ourco.example")
    existing = AccountFactory(domain="acme.example")
    sf_account(salesforce, "001A", "Acme Corp", "http://www.acme.example", revenue=250000,
               owner="AE@ourco.example")  # fmt: skip
    for number in range(120):
        sf_account(
            salesforce, f"001X{number}", f"Customer {number}", f"c{number}.example", revenue=1000
        )

    run = run_sync(salesforce_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    assert (run.fetched, run.created, run.updated) == (121, 120, 1)
    db.session.refresh(existing)
    assert (existing.name, existing.arr, existing.owner_id) == (
        "Acme Corp", Decimal("250000.00"), owner.id)  # fmt: skip
    more = [r for r in salesforce.requests if "/query/" in r.path]
    assert len(more) == 2  # 121 records at 50 per page


def test_next_run_queries_from_the_last_system_modstamp(
    salesforce, salesforce_connection, no_sleep
):
    sf_account(salesforce, "001A", "Acme", "acme.example")
    run_sync(salesforce_connection, sleep=no_sleep)
    sf_account(salesforce, "001B", "Globex", "globex.example")

    second = run_sync(salesforce_connection, sleep=no_sleep)

    soql = [r.args["q"] for r in salesforce.requests if r.path.endswith("/query")][-2]
    assert "SystemModstamp >= 2025-04-01T00:01:00Z" in soql
    assert (second.fetched, second.created) == (2, 1)  # Acme again at the inclusive cut
    assert db.session.scalar(select(func.count()).select_from(Account)) == 2


def test_an_expired_token_is_refreshed_once_and_the_call_retried(
    salesforce, salesforce_connection, no_sleep
):
    salesforce.batch_size = 1
    for record_id, name in (("001A", "Acme"), ("001B", "Globex"), ("001C", "Initech")):
        sf_account(salesforce, record_id, name, f"{name.lower()}.example")
    salesforce.expire_after_pages = 1  # the token the client holds dies after the first page

    run = run_sync(salesforce_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    assert salesforce.sessions_refused == 1
    token_calls = [r for r in salesforce.requests if r.path == "/services/oauth2/token"]
    assert len(token_calls) == 2
    pages = [r.path.rsplit("-", 1)[-1] for r in salesforce.requests if "/query/" in r.path]
    assert pages == ["1", "1", "2"]  # the refused second page is asked for again, then the third
    assert (run.fetched, run.created) == (3, 3)
    assert db.session.scalar(select(func.count()).select_from(Account)) == 3
    assert no_sleep.waits == []  # a refresh, not a back-off


def test_wrong_client_credentials_fail_fast(salesforce, make_connection, no_sleep):
    credentials = {"client_id": salesforce.client_id, "client_secret": "nope"}
    connection = make_connection("salesforce", salesforce.url, credentials)

    run = run_sync(connection, sleep=no_sleep)

    assert run.status == "failed"
    assert "invalid_client" in run.error
    assert connection.status == "failing"
    assert run.requests == 1


def test_request_limit_exceeded_stops_the_run_and_keeps_the_connection_healthy(
    salesforce, salesforce_connection, no_sleep
):
    sf_account(salesforce, "001A", "Acme", "acme.example")
    salesforce.rate_limit_every = 2  # the first query, right after the token call

    run = run_sync(salesforce_connection, sleep=no_sleep)

    assert run.status == "failed"
    assert "TotalRequests Limit exceeded" in run.error
    assert salesforce_connection.status != "failing"


def test_open_renewal_opportunities_set_renewal_dates_and_orphans_wait(
    salesforce, salesforce_connection, no_sleep
):
    sf_account(salesforce, "001A", "Acme", "acme.example")
    salesforce.add(
        "Opportunity",
        "006A",
        AccountId="001A",
        CloseDate="2027-02-28",
        IsClosed=False,
        Type="Renewal",
    )
    salesforce.add(
        "Opportunity",
        "006B",
        AccountId="001A",
        CloseDate="2026-01-31",
        IsClosed=False,
        Type="New Business",
    )
    salesforce.add(
        "Opportunity",
        "006C",
        AccountId="001Z",
        CloseDate="2027-03-31",
        IsClosed=False,
        Type="Renewal",
    )
    salesforce.add("Opportunity", "006D", AccountId="001A", CloseDate="1900-01-01",
                   IsClosed=False, Type="Renewal")  # fmt: skip

    run = run_sync(salesforce_connection, sleep=no_sleep)

    assert (run.unmatched, run.failed) == (1, 1)
    assert db.session.scalar(select(Account.renewal_date)) == dt.date(2027, 2, 28)
    kinds = dict(
        db.session.execute(select(UnmatchedRecord.external_id, UnmatchedRecord.kind)).all()
    )
    assert kinds == {"006C": "unmatched", "006D": "invalid"}
