"""Freshdesk tickets against a fake Freshdesk served over real HTTP."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from cs_platform.extensions import db
from integrations.connectors import freshdesk as freshdesk_module
from integrations.models import SupportTicket, UnmatchedRecord
from integrations.sync import run_sync
from tests.factories import AccountFactory
from tests.integrations.fakes.freshdesk import make_ticket


def count_tickets() -> int:
    return db.session.scalar(select(func.count()).select_from(SupportTicket))


def by_ticket(column) -> dict[str, Any]:
    """{external id: the column's value} of every stored ticket."""
    return dict(db.session.execute(select(SupportTicket.external_id, column)).all())


def test_tickets_follow_the_link_header_and_carry_stats(freshdesk, freshdesk_connection, no_sleep):
    account = AccountFactory(domain="acme.example")
    freshdesk.companies.append({"id": 77, "name": "Acme", "domains": ["acme.example"]})
    for number in range(1, 251):
        freshdesk.tickets.append(make_ticket(number, 77, minutes=number))

    run = run_sync(freshdesk_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    assert count_tickets() == 250
    ticket = db.session.scalar(select(SupportTicket).where(SupportTicket.external_id == "4"))
    assert (ticket.account_id, ticket.status, ticket.priority) == (account.id, "open", "low")
    assert (ticket.first_reply_minutes, ticket.resolution_minutes) == (45, 300)
    pages = [r.args.get("page") for r in freshdesk.requests if r.path == "/api/v2/tickets"]
    assert pages == ["1", "2", "3"]
    assert all("stats" in r.args["include"] for r in freshdesk.requests if "tickets" in r.path)


def test_the_next_run_asks_only_for_tickets_updated_since_the_cursor(
    freshdesk, freshdesk_connection, no_sleep
):
    freshdesk.companies.append({"id": 77, "name": "Acme", "domains": ["acme.example"]})
    AccountFactory(domain="acme.example")
    freshdesk.tickets.append(make_ticket(1, 77, minutes=1))
    run_sync(freshdesk_connection, sleep=no_sleep)
    freshdesk.tickets.append(make_ticket(2, 77, minutes=90))

    second = run_sync(freshdesk_connection, sleep=no_sleep)

    last = [r for r in freshdesk.requests if r.path == "/api/v2/tickets"][-1]
    assert last.args["updated_since"] == "2025-02-01T01:01:00Z"
    assert (second.created, count_tickets()) == (1, 2)


def test_a_ticket_keeps_its_requesters_email_and_every_sync_stamps_it_again(
    freshdesk, freshdesk_connection, no_sleep
):
    freshdesk.companies.append({"id": 77, "name": "Acme", "domains": ["acme.example"]})
    AccountFactory(domain="acme.example")
    freshdesk.requesters[501] = {"id": 501, "name": "Sam", "email": "Sam@Acme.example"}
    freshdesk.requesters[502] = {"id": 502, "name": "Lee", "email": None, "phone": "+4930123"}
    freshdesk.tickets += [make_ticket(1, 77, minutes=1), make_ticket(2, 77, minutes=2)]
    run_sync(freshdesk_connection, sleep=no_sleep)
    first = by_ticket(SupportTicket.synced_at)

    run_sync(freshdesk_connection, sleep=no_sleep)  # fetches ticket 2 again (updated_since)

    emails = by_ticket(SupportTicket.requester_email)
    assert emails == {"1": "Sam@Acme.example", "2": None}  # ticket 2: a phone-only requester
    second = by_ticket(SupportTicket.synced_at)
    assert second["1"] == first["1"] and second["2"] > first["2"]


def test_paging_re_anchors_before_freshdesks_page_limit(
    freshdesk, freshdesk_connection, no_sleep, monkeypatch
):
    monkeypatch.setattr(freshdesk_module, "MAX_PAGE", 2)
    freshdesk.max_page = 2
    freshdesk.companies.append({"id": 77, "name": "Acme", "domains": ["acme.example"]})
    AccountFactory(domain="acme.example")
    for number in range(1, 451):
        freshdesk.tickets.append(make_ticket(number, 77, minutes=number))

    run = run_sync(freshdesk_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    assert count_tickets() == 450


def test_a_429_waits_as_retry_after_says(freshdesk, freshdesk_connection, no_sleep):
    freshdesk.rate_limit_every = 2  # the second request (the first tickets page) is refused once

    run = run_sync(freshdesk_connection, sleep=no_sleep)
    freshdesk.rate_limit_every = 0

    assert run.status == "succeeded"
    assert no_sleep.waits == [30.0]


def test_tickets_of_unknown_companies_and_bad_tickets_are_queued(
    freshdesk, freshdesk_connection, no_sleep
):
    freshdesk.tickets.append(make_ticket(1, 404, minutes=1))
    freshdesk.tickets.append(make_ticket(2, None, minutes=2, status=9))
    backwards = make_ticket(3, None, minutes=3)
    backwards["stats"]["resolved_at"] = "2025-01-01T00:00:00Z"
    freshdesk.tickets.append(backwards)

    run = run_sync(freshdesk_connection, sleep=no_sleep)

    assert (run.unmatched, run.failed) == (1, 2)
    reasons = dict(
        db.session.execute(select(UnmatchedRecord.external_id, UnmatchedRecord.reason)).all()
    )
    assert "freshdesk id 404" in reasons["1"]
    assert "status 9" in reasons["2"]
    assert "before the ticket was created" in reasons["3"]


def test_a_wrong_api_key_fails_fast(freshdesk, make_connection, no_sleep):
    connection = make_connection("freshdesk", freshdesk.url, {"api_key": "wrong"})

    run = run_sync(connection, sleep=no_sleep)

    assert (run.status, run.requests, connection.status) == ("failed", 1, "failing")
