"""The scheduler's view of connections (due by interval) and the `sync` command."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.scheduler import declared_jobs
from integrations.jobs import due_connections
from integrations.models import SyncRun, UsageDaily
from tests.factories import AccountFactory
from tests.integrations.fakes.zendesk import make_ticket


def test_connections_are_due_when_their_interval_has_passed(make_connection):
    never = make_connection("zendesk", "http://127.0.0.1:9", {}, name="never-ran")
    recent = make_connection("hubspot", "http://127.0.0.1:9", {}, name="recent")
    stale = make_connection("freshdesk", "http://127.0.0.1:9", {}, name="stale",
                            interval_minutes=30)  # fmt: skip
    make_connection("zendesk", "http://127.0.0.1:9", {}, name="off", enabled=False)
    make_connection("segment", "", {}, name="events")  # pushed to us, never pulled
    now = utcnow()
    db.session.add_all([
        SyncRun(connection_id=recent.id, started_at=now - dt.timedelta(minutes=5)),
        SyncRun(connection_id=stale.id, started_at=now - dt.timedelta(minutes=31)),
    ])  # fmt: skip
    db.session.commit()

    assert [c.name for c in due_connections(now)] == [never.name, stale.name]


def test_the_integration_jobs_are_declared_to_the_scheduler(app):
    ids = {spec.id for spec in declared_jobs(app)}

    assert {"integrations-sync-due", "integrations-usage-rollup"} <= ids


def test_sync_command_runs_a_connection_by_name(runner, zendesk, zendesk_connection):
    zendesk.add_organization(1, "Acme", ["acme.example"])
    zendesk.add_ticket(make_ticket(1, 1, 2, minutes=1))

    result = runner.invoke(args=["sync", zendesk_connection.name])

    assert result.exit_code == 0, result.output
    assert "zendesk-main: succeeded" in result.output
    assert "unmatched 2" in result.output  # the organization and its ticket: no acme account


def test_sync_command_fails_with_one_line_for_an_unknown_connection(runner):
    result = runner.invoke(args=["sync", "nope"])

    assert result.exit_code == 1
    assert "no connection 'nope'" in result.output


def test_sync_command_exits_1_when_the_run_fails(runner, zendesk, make_connection):
    make_connection("zendesk", zendesk.url, {"email": zendesk.email, "api_token": "bad"})

    result = runner.invoke(args=["sync", "zendesk-main"])

    assert result.exit_code == 1
    assert "wrong credentials" in result.output


def test_an_event_source_made_on_the_command_line_accepts_events_and_rolls_up(runner, client):
    account = AccountFactory(domain="acme.example")
    made = runner.invoke(args=["integrations", "add-event-source", "product"])
    write_key = made.output.strip().splitlines()[-1]
    event = {"type": "track", "userId": "u1", "event": "Opened", "messageId": "m1",
             "timestamp": utcnow().isoformat(),
             "context": {"groupId": "acme.example"}}  # fmt: skip

    accepted = client.post("/v1/track", json=event, auth=(write_key, ""))
    rolled = runner.invoke(args=["integrations", "rollup"])

    assert accepted.status_code == 200
    assert "wrote 1 daily usage row(s)" in rolled.output
    assert db.session.scalar(select(UsageDaily.account_id)) == account.id
