"""HubSpot companies and deals against a fake HubSpot served over real HTTP."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from cs_platform.extensions import db
from cs_platform.models import Account, AccountChange, ExternalId, TimelineEntry, utcnow
from integrations.connectors import hubspot as hubspot_module
from integrations.models import UnmatchedRecord
from integrations.sync import run_sync
from scoring.features import features_as_of
from tests.factories import AccountFactory


def company(fake, company_id: str, name: str, domain: str, **props) -> None:
    fake.add("companies", company_id, {"name": name, "domain": domain, **props})


def test_first_sync_creates_accounts_from_companies_and_updates_matched_ones(
    hubspot, hubspot_connection, make_user, no_sleep
):
    owner = make_user("csm", email="owner@ourco.example")
    existing = AccountFactory(domain="acme.example", name="ACME (old name)")
    company(hubspot, "101", "Acme Inc", "https://www.acme.example", arr="120000",
            renewal_date="2027-01-31", cs_owner_email="Owner@ourco.example")  # fmt: skip
    for number in range(102, 260):
        company(hubspot, str(number), f"Company {number}", f"c{number}.example", arr="9000")

    run = run_sync(hubspot_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    assert (run.created, run.updated) == (158, 1)
    db.session.refresh(existing)
    assert existing.name == "Acme Inc"
    assert existing.arr == Decimal("120000.00")
    assert existing.renewal_date == dt.date(2027, 1, 31)
    assert existing.owner_id == owner.id
    created = db.session.scalar(select(Account).where(Account.domain == "c150.example"))
    assert (created.segment, created.plan) == ("smb", "growth")
    assert db.session.scalar(select(func.count()).select_from(ExternalId)) == 159
    list_requests = [r for r in hubspot.requests if r.method == "GET"]
    assert [r.args.get("after") for r in list_requests] == [None, "200", None]
    assert "/deals" in list_requests[2].path  # two company pages of 100, then deals


def test_later_syncs_search_only_companies_modified_since_the_last_run(
    hubspot, hubspot_connection, no_sleep
):
    company(hubspot, "1", "Acme", "acme.example", arr="1000")
    company(hubspot, "2", "Globex", "globex.example", arr="2000")
    run_sync(hubspot_connection, sleep=no_sleep)
    company(hubspot, "2", "Globex Corp", "globex.example", arr="3000")

    second = run_sync(hubspot_connection, sleep=no_sleep)

    search = hubspot.search_bodies()[-2]  # companies (the last one is deals)
    assert search["sorts"] == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    assert search["filterGroups"][0]["filters"][0]["operator"] == "GTE"
    assert second.created == 0
    assert second.fetched == 1  # only Globex changed since the anchor
    account = db.session.scalar(select(Account).where(Account.domain == "globex.example"))
    assert (account.name, account.arr) == ("Globex Corp", Decimal("3000.00"))
    assert db.session.scalar(select(func.count()).select_from(Account)) == 2


def test_what_a_sync_changed_shows_in_the_account_timeline_once(
    hubspot, hubspot_connection, no_sleep
):
    existing = AccountFactory(domain="acme.example", name="Acme", arr=Decimal("1000.00"))
    company(hubspot, "1", "Acme", "acme.example", arr="1500")
    company(hubspot, "2", "Globex", "globex.example", arr="2000")
    run_sync(hubspot_connection, sleep=no_sleep)
    run_sync(hubspot_connection, sleep=no_sleep)  # nothing new: no new lines

    lines = db.session.execute(
        select(TimelineEntry.account_id, TimelineEntry.body)
        .where(TimelineEntry.kind == "sync")
        .order_by(TimelineEntry.id)
    ).all()
    globex = db.session.scalar(select(Account.id).where(Account.domain == "globex.example"))
    assert lines == [
        (existing.id, "HubSpot CRM sync: ARR 1000.00 → 1500.00"),
        (globex, "Created by the HubSpot CRM sync"),
    ]


def test_search_re_anchors_on_the_last_timestamp_before_the_result_cap(
    hubspot, hubspot_connection, no_sleep, monkeypatch
):
    monkeypatch.setattr(hubspot_module, "SEARCH_CAP", 300)
    hubspot.search_cap = 300
    company(hubspot, "1", "Seed", "seed.example")
    run_sync(hubspot_connection, sleep=no_sleep)
    for number in range(2, 652):
        company(hubspot, str(number), f"Co {number}", f"co{number}.example")

    run = run_sync(hubspot_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    assert db.session.scalar(select(func.count()).select_from(Account)) == 651
    anchors = {
        b["filterGroups"][0]["filters"][0]["value"]
        for b in hubspot.search_bodies()
        if b["properties"][0] == "name"
    }
    assert len(anchors) >= 3  # the first anchor and at least two re-anchors
    assert all(int(b.get("after", 0)) + 100 <= 300 for b in hubspot.search_bodies())


def test_renewal_deals_set_the_account_renewal_date_and_unknown_companies_wait(
    hubspot, hubspot_connection, no_sleep
):
    company(hubspot, "1", "Acme", "acme.example")
    hubspot.add(
        "deals",
        "9001",
        {
            "dealname": "Acme renewal",
            "closedate": "2027-05-01T00:00:00Z",
            "dealstage": "contractsent",
        },
        associations={"companies": {"results": [{"id": "1", "type": "deal_to_company"}]}},
    )
    hubspot.add("deals", "9002", {"dealname": "Ghost renewal", "closedate": "2027-06-01",
                                  "associatedcompanyid": "404"})  # fmt: skip

    run = run_sync(hubspot_connection, sleep=no_sleep)

    assert run.unmatched == 1
    account = db.session.scalar(select(Account))
    assert account.renewal_date == dt.date(2027, 5, 1)
    queued = db.session.scalar(select(UnmatchedRecord))
    assert (queued.stream, queued.external_id) == ("deals", "9002")
    assert "hubspot id 404" in queued.reason


def test_absurd_company_values_are_queued_with_the_reason(hubspot, hubspot_connection, no_sleep):
    company(hubspot, "1", "Negative", "neg.example", arr="-5000")
    company(hubspot, "2", "Ancient", "old.example", renewal_date="1900-01-01")
    company(hubspot, "3", "", "noname.example")
    company(hubspot, "4", "Fine", "fine.example", arr="abc")
    company(hubspot, "5", "Good", "good.example", arr="5000")

    run = run_sync(hubspot_connection, sleep=no_sleep)

    assert run.status == "succeeded"
    assert (run.failed, run.created) == (4, 1)
    reasons = dict(
        db.session.execute(select(UnmatchedRecord.external_id, UnmatchedRecord.reason)).all()
    )
    assert "out of range" in reasons["1"]
    assert "out of range" in reasons["2"]
    assert "name is missing" in reasons["3"]
    assert "not a number" in reasons["4"]


def test_a_429_waits_for_hubspots_rate_limit_interval(hubspot, hubspot_connection, no_sleep):
    company(hubspot, "1", "Acme", "acme.example")
    hubspot.rate_limit_every = 1
    hubspot.faults.clear()
    first = hubspot.rate_limited()
    hubspot.rate_limit_every = 0
    hubspot.inject(429, headers=dict(first.headers), body={"errorType": "RATE_LIMIT"})

    run = run_sync(hubspot_connection, sleep=no_sleep)

    assert run.status == "succeeded"
    assert no_sleep.waits == [10.0]


def test_no_remaining_calls_in_the_window_makes_the_client_wait_before_the_next(
    hubspot, hubspot_connection, no_sleep
):
    company(hubspot, "1", "Acme", "acme.example")
    hubspot.remaining = 0

    run_sync(hubspot_connection, sleep=no_sleep)

    assert no_sleep.waits == [10.0]


def test_a_daily_limit_stops_the_run_without_marking_the_connection_failing(
    hubspot, hubspot_connection, no_sleep
):
    company(hubspot, "1", "Acme", "acme.example")
    hubspot.inject(429, body={"errorType": "RATE_LIMIT", "policyName": "DAILY"})

    run = run_sync(hubspot_connection, sleep=no_sleep)

    assert run.status == "failed"
    assert "daily" in run.error
    assert hubspot_connection.status != "failing"


def test_a_wrong_token_fails_fast(hubspot, make_connection, no_sleep):
    connection = make_connection("hubspot", hubspot.url, {"access_token": "pat-wrong"})

    run = run_sync(connection, sleep=no_sleep)

    assert run.status == "failed"
    assert run.requests == 1
    assert connection.status == "failing"
    assert "wrong credentials" in connection.last_error


def test_an_arr_cut_and_a_new_renewal_date_are_kept_in_the_account_history_for_past_features(
    hubspot, hubspot_connection, no_sleep
):
    existing = AccountFactory(
        domain="acme.example", arr=Decimal("90000.00"), renewal_date=dt.date(2027, 3, 1)
    )
    company(hubspot, "1", "Acme Inc", "acme.example", arr="60000")
    hubspot.add(
        "deals",
        "9001",
        {"dealname": "Acme renewal", "closedate": "2027-05-01", "dealstage": "contractsent"},
        associations={"companies": {"results": [{"id": "1", "type": "deal_to_company"}]}},
    )
    run_sync(hubspot_connection, sleep=no_sleep)
    run_sync(hubspot_connection, sleep=no_sleep)  # nothing new: no new history

    columns = (AccountChange.field, AccountChange.old_value, AccountChange.new_value)
    history = db.session.execute(
        select(AccountChange.account_id, *columns, AccountChange.source).order_by(AccountChange.id)
    ).all()
    assert history == [
        (existing.id, "arr", "90000.00", "60000.00", "hubspot"),
        (existing.id, "renewal_date", "2027-03-01", "2027-05-01", "hubspot"),
    ]
    today = utcnow().date()
    assert features_as_of(today - dt.timedelta(days=1)).loc[existing.id, "arr"] == 90000.0
    assert features_as_of(today).loc[existing.id, "arr"] == 60000.0
