"""Zendesk sync against a fake Zendesk served over real HTTP."""

from __future__ import annotations

import base64
import logging
import math

from sqlalchemy import func, select

from cs_platform.extensions import db
from cs_platform.logging_setup import JsonFormatter
from cs_platform.models import utcnow
from integrations.models import SupportTicket, SyncState, UnmatchedRecord
from integrations.sync import resolve_unmatched, run_sync
from tests.factories import AccountFactory, ContactFactory
from tests.integrations.fakes.zendesk import encode_cursor, make_metric_set, make_ticket


def seed(zendesk, tickets: int = 5) -> None:
    zendesk.add_organization(900, "Acme", ["www.acme.example"])
    zendesk.add_user(50, "pat@acme.example")
    for number in range(1, tickets + 1):
        ticket = make_ticket(number, 900, 50, minutes=number)
        zendesk.add_ticket(ticket, make_metric_set(ticket))


def ticket_rows() -> list[tuple]:
    return db.session.execute(
        select(SupportTicket.external_id, SupportTicket.account_id, SupportTicket.status,
               SupportTicket.updated_at, SupportTicket.first_reply_minutes)
        .order_by(SupportTicket.external_id)
    ).all()  # fmt: skip


def ticket_ids() -> list[str]:
    return list(db.session.scalars(select(SupportTicket.external_id).order_by("external_id")))


def test_sync_stores_tickets_of_the_organization_matched_by_domain(
    zendesk, zendesk_connection, no_sleep
):
    account = AccountFactory(domain="acme.example")
    seed(zendesk)

    run = run_sync(zendesk_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    assert (run.fetched, run.created, run.unmatched, run.failed) == (6, 6, 0, 0)
    ticket = db.session.scalar(select(SupportTicket).where(SupportTicket.external_id == "3"))
    assert ticket.account_id == account.id
    assert ticket.status == "closed"
    assert ticket.first_reply_minutes == 33
    assert ticket.resolution_minutes == 600
    assert ticket.solved_at is not None
    assert db.session.get(SupportTicket, 1).satisfaction == "bad"  # ticket 1: "bad"
    assert zendesk_connection.status == "ok"


def test_tickets_keep_their_requesters_email_and_when_they_were_synced(
    zendesk, zendesk_connection, no_sleep
):
    AccountFactory(domain="acme.example")
    seed(zendesk, tickets=1)
    zendesk.add_ticket(make_ticket(2, 900, 99, minutes=2))  # a requester Zendesk does not sideload
    before = utcnow()

    run_sync(zendesk_connection, sleep=no_sleep)

    tickets = db.session.scalars(select(SupportTicket).order_by(SupportTicket.external_id)).all()
    assert [t.requester_email for t in tickets] == ["pat@acme.example", None]
    assert all(before <= t.synced_at <= utcnow() for t in tickets)


def test_running_a_sync_twice_changes_nothing(zendesk, zendesk_connection, no_sleep):
    AccountFactory(domain="acme.example")
    seed(zendesk)
    run_sync(zendesk_connection, sleep=no_sleep)
    before = ticket_rows()

    second = run_sync(zendesk_connection, sleep=no_sleep)

    assert second.status == "succeeded"
    assert second.created == 0
    assert ticket_rows() == before
    assert db.session.scalar(select(func.count()).select_from(SupportTicket)) == 5


def test_next_run_fetches_only_tickets_changed_since_the_cursor(
    zendesk, zendesk_connection, no_sleep
):
    AccountFactory(domain="acme.example")
    seed(zendesk, tickets=3)
    run_sync(zendesk_connection, sleep=no_sleep)
    zendesk.add_ticket(make_ticket(4, 900, 50, minutes=500))

    second = run_sync(zendesk_connection, sleep=no_sleep)

    ticket_requests = [r for r in zendesk.requests if "tickets" in r.path]
    assert "cursor" in ticket_requests[-1].args
    assert second.created == 1


def test_ticket_without_organization_matches_by_requester_email_domain(
    zendesk, zendesk_connection, no_sleep
):
    account = AccountFactory(domain="globex.example")
    zendesk.add_user(60, "lee@globex.example")
    zendesk.add_ticket(make_ticket(7, None, 60, minutes=1))

    run_sync(zendesk_connection, sleep=no_sleep)

    assert db.session.scalar(select(SupportTicket.account_id)) == account.id


def test_ticket_matches_a_known_contact_email_even_on_another_domain(
    zendesk, zendesk_connection, no_sleep
):
    contact = ContactFactory(email="boss@gmail.com")
    zendesk.add_user(61, "boss@gmail.com")
    zendesk.add_ticket(make_ticket(8, None, 61, minutes=1))

    run_sync(zendesk_connection, sleep=no_sleep)

    assert db.session.scalar(select(SupportTicket.account_id)) == contact.account_id


def test_unmatched_ticket_waits_in_the_review_queue_and_resolving_stores_it(
    zendesk, zendesk_connection, no_sleep
):
    account = AccountFactory(domain="initech.example")
    zendesk.add_user(62, "someone@gmail.com")
    zendesk.add_ticket(make_ticket(9, 777, 62, minutes=1))

    run = run_sync(zendesk_connection, sleep=no_sleep)

    assert run.unmatched == 1
    queued = db.session.scalar(select(UnmatchedRecord))
    assert queued.stream == "tickets"
    assert queued.external_id == "9"
    assert "zendesk id 777" in queued.reason
    assert "someone@gmail.com" in queued.reason
    assert queued.payload["subject"] == "Cannot export report #9"

    resolve_unmatched(queued, account.id)
    db.session.commit()

    assert db.session.scalar(select(SupportTicket.account_id)) == account.id
    assert queued.resolved_at is not None
    assert queued.resolved_account_id == account.id


def test_bad_records_go_to_the_review_queue_and_the_run_continues(
    zendesk, zendesk_connection, no_sleep
):
    AccountFactory(domain="acme.example")
    seed(zendesk, tickets=2)
    ancient = make_ticket(10, 900, 50, minutes=3)
    ancient["created_at"] = "1900-01-01T00:00:00Z"
    weird = make_ticket(11, 900, 50, minutes=4)
    weird["status"] = "exploded"
    no_id = make_ticket(12, 900, 50, minutes=5)
    no_id["id"] = "twelve"
    negative = make_ticket(13, 900, 50, minutes=6)
    for ticket in (ancient, weird, no_id, negative):
        zendesk.add_ticket(ticket)
    zendesk.metric_sets[13] = {"ticket_id": 13, "reply_time_in_minutes": {"calendar": -5}}

    run = run_sync(zendesk_connection, sleep=no_sleep)

    assert run.status == "succeeded"
    assert run.failed == 4
    assert run.created == 3  # the organization mapping and the two good tickets
    reasons = dict(
        db.session.execute(select(UnmatchedRecord.external_id, UnmatchedRecord.reason)).all()
    )
    assert "out of range" in reasons["10"]
    assert "exploded" in reasons["11"]
    assert "wrong type" in reasons["twelve"]
    assert "reply_time" in reasons["13"]
    assert {k for (k,) in db.session.execute(select(UnmatchedRecord.kind))} == {"invalid"}


def test_rate_limited_pages_wait_as_long_as_retry_after_says(zendesk, zendesk_connection, no_sleep):
    AccountFactory(domain="acme.example")
    seed(zendesk)
    zendesk.inject(429, headers={"Retry-After": "12"}, body={"error": "APIRateLimitExceeded"})

    run = run_sync(zendesk_connection, sleep=no_sleep)

    assert run.status == "succeeded"
    assert no_sleep.waits == [12.0]
    assert db.session.scalar(select(func.count()).select_from(SupportTicket)) == 5


def test_server_errors_are_retried_with_growing_back_off(zendesk, zendesk_connection, no_sleep):
    AccountFactory(domain="acme.example")
    seed(zendesk)
    zendesk.inject(503, times=3)

    run = run_sync(zendesk_connection, sleep=no_sleep)

    assert run.status == "succeeded"
    assert len(no_sleep.waits) == 3
    assert all(0 <= wait <= 0.5 * 2**attempt for attempt, wait in enumerate(no_sleep.waits, 1))


def test_persistent_server_errors_fail_the_run_and_keep_the_cursor(
    zendesk, zendesk_connection, no_sleep
):
    AccountFactory(domain="acme.example")
    seed(zendesk)
    zendesk.inject(500, times=10)

    run = run_sync(zendesk_connection, sleep=no_sleep)

    assert run.status == "failed"
    assert "500" in run.error
    assert zendesk_connection.status == "failing"
    assert db.session.scalar(select(SyncState.cursor)) is None


def test_a_truncated_ticket_page_is_fetched_again_and_the_run_completes(
    zendesk, zendesk_connection, no_sleep
):
    AccountFactory(domain="acme.example")
    seed(zendesk)
    zendesk.truncate_ticket_pages(times=1)

    run = run_sync(zendesk_connection, sleep=no_sleep)

    assert run.status == "succeeded", run.error
    assert run.created == 6
    assert len(no_sleep.waits) == 1
    assert 0 <= no_sleep.waits[0] <= 0.5 * 2  # the first back-off step of a 5xx
    assert db.session.scalar(select(func.count()).select_from(SupportTicket)) == 5


def test_a_ticket_page_that_stays_truncated_stops_the_run_and_the_next_run_resumes(
    zendesk, make_connection, no_sleep
):
    AccountFactory(domain="acme.example")
    seed(zendesk, tickets=6)
    credentials = {"email": zendesk.email, "api_token": zendesk.api_token}
    connection = make_connection("zendesk", zendesk.url, credentials, settings={"per_page": 2})
    zendesk.truncate_ticket_pages(times=math.inf, after=1)

    first = run_sync(connection, sleep=no_sleep)

    assert first.status == "failed"
    assert first.error == (
        f"malformed JSON from {zendesk.url}/api/v2/incremental/tickets/cursor.json (200) after "
        "5 tries (the next run resumes from the last committed page)"
    )
    assert connection.status != "failing"
    state = db.session.scalar(select(SyncState).where(SyncState.stream == "tickets"))
    assert state.cursor == encode_cursor(2)
    assert state.last_error.startswith(f"malformed JSON from {zendesk.url}/api/v2/incremental")
    assert ticket_ids() == ["1", "2"]

    zendesk.truncate_ticket_pages(times=0)
    seen = len(zendesk.requests)
    second = run_sync(connection, sleep=no_sleep)

    assert second.status == "succeeded", second.error
    resumed = next(r for r in zendesk.requests[seen:] if "tickets" in r.path)
    assert resumed.args["cursor"] == encode_cursor(2)
    assert second.created == 4
    assert ticket_ids() == ["1", "2", "3", "4", "5", "6"]


def test_a_stalled_response_times_out_and_is_retried(
    app, zendesk, zendesk_connection, no_sleep, monkeypatch
):
    monkeypatch.setitem(app.config, "INTEGRATIONS_HTTP_TIMEOUT", 0.3)
    AccountFactory(domain="acme.example")
    seed(zendesk)
    zendesk.inject(200, stall_seconds=1.0)

    run = run_sync(zendesk_connection, sleep=no_sleep)

    assert run.status == "succeeded"
    assert run.created == 6
    assert len(no_sleep.waits) == 1


def test_wrong_credentials_fail_fast_and_mark_the_connection_failing(
    zendesk, make_connection, no_sleep
):
    AccountFactory(domain="acme.example")
    seed(zendesk)
    connection = make_connection(
        "zendesk", zendesk.url, {"email": zendesk.email, "api_token": "wrong"}
    )

    run = run_sync(connection, sleep=no_sleep)

    assert run.status == "failed"
    assert run.error.startswith("wrong credentials: 401")
    assert run.requests == 1
    assert connection.status == "failing"
    assert db.session.scalar(select(func.count()).select_from(SupportTicket)) == 0


def test_a_run_stopped_half_way_resumes_from_the_last_committed_page(
    zendesk, make_connection, no_sleep
):
    AccountFactory(domain="acme.example")
    seed(zendesk, tickets=6)
    connection = make_connection(
        "zendesk",
        zendesk.url,
        {"email": zendesk.email, "api_token": zendesk.api_token},
        settings={"per_page": 2},
        request_budget=3,  # organizations, then two pages of tickets
    )

    first = run_sync(connection, sleep=no_sleep)
    assert first.status == "failed"
    assert "budget" in first.error
    assert db.session.scalar(select(func.count()).select_from(SupportTicket)) == 4
    assert connection.status != "failing"

    connection.request_budget = 100
    db.session.commit()
    second = run_sync(connection, sleep=no_sleep)

    assert second.status == "succeeded"
    assert second.created == 2
    assert db.session.scalar(select(func.count()).select_from(SupportTicket)) == 6


def test_credentials_are_encrypted_at_rest(zendesk, zendesk_connection):
    stored = zendesk_connection.credentials_encrypted
    assert zendesk.api_token not in stored
    assert zendesk.email not in stored
    assert stored.startswith("gAAAA")  # a Fernet token


def test_logs_never_contain_credentials(zendesk, zendesk_connection, no_sleep, caplog):
    AccountFactory(domain="acme.example")
    seed(zendesk)
    zendesk.inject(503)
    caplog.set_level(logging.DEBUG)

    run_sync(zendesk_connection, sleep=no_sleep)

    formatter = JsonFormatter()
    text = "\n".join(formatter.format(record) for record in caplog.records)
    basic = base64.b64encode(f"{zendesk.email}/token:{zendesk.api_token}".encode()).decode()
    assert "/api/v2/incremental/tickets/cursor.json" in text  # requests are logged
    assert zendesk.api_token not in text
    assert basic not in text
