"""Alerts reach Slack, Teams and email through the real outbox worker, honouring each
receiver's contract: delivered once, 429 retried after Retry-After, 4xx permanent, 5xx retried;
a channel not set up falls back to email; the secret URLs never show in an error or a log."""

from __future__ import annotations

import datetime as dt
import logging
import socket

import pytest

from cs_platform import outbox
from cs_platform.alerts.notify import Alert, enqueue_alerts
from cs_platform.extensions import db
from cs_platform.models import utcnow
from tests.cs_platform.alerts.conftest import messages, prefer, run_outbox

ONLY = {"escalation": ["email"], "task_assigned": ["email"]}


def alert_for(user, key: str = "rule:3:v2:acct:17:step:0", **fields) -> Alert:
    values = {
        "user_id": user.id,
        "kind": "rule",
        "account_id": 17,
        "account_name": "Acme <Corp> & Sons",
        "reason": "Acme Corp entered the red band",
        "dedupe_key": key,
    }
    return Alert(**(values | fields))


def raise_alert(user, **fields) -> int:
    added = enqueue_alerts([alert_for(user, **fields)])
    db.session.commit()
    return added


def test_a_slack_alert_is_delivered_once_with_a_link_to_the_account(csm, slack):
    prefer(csm, slack_url=slack.url, channels={"rule": ["slack"], **ONLY})
    assert raise_alert(csm) == 1
    run_outbox(rounds=2)
    [body] = slack.received
    assert body["text"] == "Rule: Acme <Corp> & Sons: Acme Corp entered the red band"
    section = body["blocks"][0]["text"]["text"]
    assert "<http://127.0.0.1:5000/accounts/17|Acme &lt;Corp&gt; &amp; Sons>" in section
    [message] = messages()
    assert (message.kind, message.status, message.attempts) == ("alert_slack", "sent", 1)
    assert message.dedupe_key == "rule:3:v2:acct:17:step:0:slack"


def test_slack_429_is_retried_after_exactly_retry_after_seconds(csm, slack):
    prefer(csm, slack_url=slack.url, channels={"rule": ["slack"], **ONLY})
    slack.plan = [(429, "rate_limited", {"Retry-After": "42"})]
    raise_alert(csm)
    outbox.process_batch("test-worker", 10)
    [message] = messages()
    assert message.status == "pending" and "429" in message.last_error
    wait = message.next_attempt_at - utcnow()
    assert dt.timedelta(seconds=39) < wait <= dt.timedelta(seconds=42)
    run_outbox()
    assert len(slack.received) == 1 and messages()[0].status == "sent"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, "invalid_payload"),
        (403, "action_prohibited"),
        (404, "no_service"),
        (410, "channel_is_archived"),
    ],
)
def test_slack_refusals_fail_for_good_with_slacks_reason(csm, slack, status, body):
    prefer(csm, slack_url=slack.url, channels={"rule": ["slack"], **ONLY})
    slack.plan = [(status, body, {})]
    raise_alert(csm)
    run_outbox(rounds=3)
    [message] = messages()
    assert message.status == "failed"
    assert message.last_error == f"Slack answered {status}: {body}"
    assert slack.hits == 1 and slack.received == []


def test_slack_server_errors_are_retried_until_delivered(csm, slack):
    prefer(csm, slack_url=slack.url, channels={"rule": ["slack"], **ONLY})
    slack.plan = [(500, "internal_error", {}), (503, "", {})]
    raise_alert(csm)
    outbox.process_batch("test-worker", 10)
    [message] = messages()
    assert message.status == "pending" and message.next_attempt_at > utcnow()
    run_outbox(rounds=2)
    assert len(slack.received) == 1 and slack.hits == 3
    assert messages()[0].status == "sent"


def test_a_teams_alert_is_an_adaptive_card_delivered_on_1(csm, teams):
    prefer(csm, teams_url=teams.url, channels={"rule": ["teams"], **ONLY})
    raise_alert(csm)
    run_outbox(rounds=2)
    [body] = teams.received
    card = body["attachments"][0]["content"]
    assert body["type"] == "message" and card["type"] == "AdaptiveCard"
    assert card["body"][0]["text"] == "Rule: Acme <Corp> & Sons"
    assert card["actions"][0]["url"] == "http://127.0.0.1:5000/accounts/17"
    assert messages()[0].status == "sent"


def test_a_workflow_webhooks_202_counts_as_delivered(csm, teams):
    prefer(csm, teams_url=teams.url, channels={"rule": ["teams"], **ONLY})
    teams.plan = [(202, "", {})]
    raise_alert(csm)
    run_outbox()
    assert messages()[0].status == "sent" and teams.hits == 1


def test_teams_throttling_is_retried_with_or_without_retry_after(csm, teams):
    prefer(csm, teams_url=teams.url, channels={"rule": ["teams"], **ONLY})
    teams.plan = [(429, "", {}), (429, "", {"Retry-After": "5"})]
    raise_alert(csm)
    outbox.process_batch("test-worker", 10)
    first_wait = messages()[0].next_attempt_at - utcnow()
    assert dt.timedelta(seconds=25) < first_wait <= dt.timedelta(seconds=30)  # the back-off
    run_outbox()
    [message] = messages()
    assert message.status == "pending"
    assert message.next_attempt_at - utcnow() <= dt.timedelta(seconds=5)
    run_outbox()
    assert messages()[0].status == "sent" and len(teams.received) == 1


def test_teams_client_errors_fail_for_good(csm, teams):
    prefer(csm, teams_url=teams.url, channels={"rule": ["teams"], **ONLY})
    teams.plan = [(400, "Bad payload received by generic incoming webhook.", {})]
    raise_alert(csm)
    run_outbox(rounds=2)
    [message] = messages()
    assert message.status == "failed" and "Bad payload" in message.last_error


def test_a_channel_not_set_up_falls_back_to_email(csm, smtp_sink):
    prefer(csm, channels={"rule": ["slack", "teams", "email"], **ONLY})
    assert raise_alert(csm) == 1
    run_outbox()
    [message] = messages()
    assert (message.kind, message.status, message.last_error) == ("alert_email", "sent", None)
    [email] = smtp_sink.messages
    assert email["To"] == "casey@example.com"
    assert email["Subject"] == "Rule: Acme <Corp> & Sons: Acme Corp entered the red band"
    text = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    assert "http://127.0.0.1:5000/accounts/17" in text
    assert 'href="http://127.0.0.1:5000/accounts/17"' in html
    assert "Acme &lt;Corp&gt; &amp; Sons" in html


def test_a_slack_url_removed_after_queueing_sends_the_alert_by_email(csm, slack, smtp_sink):
    prefer(csm, slack_url=slack.url, channels={"rule": ["slack"], **ONLY})
    raise_alert(csm)
    prefer(csm, remove_slack=True, channels={"rule": ["slack"], **ONLY})
    run_outbox(rounds=2)
    assert [(m.kind, m.status) for m in messages()] == [
        ("alert_slack", "cancelled"),
        ("alert_email", "sent"),
    ]
    assert slack.hits == 0 and len(smtp_sink.messages) == 1


def test_the_same_alert_queued_twice_goes_out_once(csm, slack):
    prefer(csm, slack_url=slack.url, channels={"rule": ["slack", "email"], **ONLY})
    assert raise_alert(csm) == 2
    assert raise_alert(csm) == 0
    assert enqueue_alerts([alert_for(csm), alert_for(csm)]) == 0
    assert sorted(m.dedupe_key for m in messages()) == [
        "rule:3:v2:acct:17:step:0:email",
        "rule:3:v2:acct:17:step:0:slack",
    ]


def test_an_alert_names_its_own_channels_over_the_users_preferences(csm, teams):
    prefer(csm, teams_url=teams.url)
    raise_alert(csm, kind="escalation", channels=("teams",))
    assert [m.kind for m in messages()] == ["alert_teams"]


def test_many_recipients_are_queued_in_one_call_and_inactive_or_paused_users_get_nothing(
    make_user,
):
    active, inactive, paused = make_user(), make_user(), make_user()
    inactive.active = False
    db.session.commit()
    prefer(paused, paused=True)
    alerts = [alert_for(user, key=f"rule:1:u{user.id}") for user in (active, inactive, paused)]
    assert enqueue_alerts(alerts) == 1
    db.session.commit()
    [message] = messages()
    assert message.payload["user_id"] == active.id


def test_a_very_long_dedupe_key_still_fits_and_still_dedupes(csm):
    key = "rule:" + "x" * 400
    assert raise_alert(csm, key=key) == 1
    assert raise_alert(csm, key=key) == 0
    assert len(messages()[0].dedupe_key) <= 200


def test_unknown_kinds_and_channels_are_refused(csm):
    with pytest.raises(ValueError, match="unknown alert kind"):
        enqueue_alerts([alert_for(csm, kind="digest")])
    with pytest.raises(ValueError, match="unknown alert channels"):
        enqueue_alerts([alert_for(csm, channels=("pager",))])


def test_the_secret_url_shows_in_no_error_and_no_log(csm, private_targets, caplog):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/T1/B1/topsecretT0ken"
    prefer(csm, slack_url=url, channels={"rule": ["slack"], **ONLY})
    caplog.set_level(logging.DEBUG)
    raise_alert(csm)
    run_outbox(rounds=7)  # past the whole back-off: "dead", which is logged
    [message] = messages()
    assert message.status == "dead"
    assert "127.0.0.1" in message.last_error and "topsecret" not in message.last_error
    assert "topsecret" not in caplog.text
    assert "topsecret" not in str(message.payload)
