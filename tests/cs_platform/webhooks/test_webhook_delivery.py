"""Webhook delivery end to end: signed per Standard Webhooks, retried, disabled on 410, replayed,
checked against SSRF; every delivery is verified by the standardwebhooks package."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cs_platform import outbox
from cs_platform.config import ConfigError, check_outbox_timing
from cs_platform.extensions import db
from cs_platform.webhooks import services
from cs_platform.webhooks.delivery import BACKOFF
from cs_platform.webhooks.events import publish_event
from cs_platform.webhooks.models import WebhookDelivery, WebhookEndpoint
from cs_platform.webhooks.ssrf import UnsafeTargetError, check_target, public_only_session
from tests.cs_platform.webhooks.conftest import run_outbox
from tests.factories import CampaignFactory, ContactFactory
from tests.surveys.helpers import invite

EVENT = "health_score.changed"


def deliveries() -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_an_event_reaches_the_receiver_signed_with_the_standard_headers(receiver, subscribe):
    subscribe(receiver)
    publish_event(EVENT, {"account_id": 7, "score": 41.0, "band": "red"})
    db.session.commit()
    run_outbox()
    assert receiver.rejected == 0
    [item] = receiver.verified
    assert item["id"].startswith("msg_")
    assert item["payload"]["type"] == EVENT
    assert item["payload"]["data"] == {"account_id": 7, "score": 41.0, "band": "red"}
    assert item["payload"]["timestamp"].endswith("Z")
    [delivery] = deliveries()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("succeeded", 1, 200)


def test_nothing_leaves_before_the_publishing_transaction_commits(receiver, subscribe):
    subscribe(receiver)
    publish_event(EVENT, {"account_id": 1})
    db.session.rollback()
    run_outbox()
    assert receiver.hits == 0
    assert deliveries() == []


def test_only_active_subscribed_endpoints_get_an_event(receiver, subscribe):
    subscribe(receiver, ["task.created"])
    assert publish_event(EVENT, {"account_id": 1}) == 0
    assert publish_event("task.created", {"id": 1}) == 1


def test_failed_attempts_are_retried_until_delivered_and_nothing_is_lost(receiver, subscribe):
    subscribe(receiver)
    receiver.plan = [500, 503, 429]
    publish_event(EVENT, {"account_id": 3}, event_id="msg_fixed_1")
    db.session.commit()
    run_outbox(rounds=4)
    assert receiver.ids == ["msg_fixed_1"]
    [delivery] = deliveries()
    assert delivery.status == "succeeded"
    assert [entry["status"] for entry in delivery.attempt_log] == [500, 503, 429, 200]
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    assert endpoint.consecutive_failures == 0 and endpoint.active


def test_a_retry_waits_for_the_next_step_of_the_back_off_schedule(receiver, subscribe):
    subscribe(receiver)
    receiver.plan = [500]
    publish_event(EVENT, {"account_id": 3})
    db.session.commit()
    outbox.process_batch("test-worker", 10)
    message = db.session.scalar(select(outbox.OutboxMessage))
    wait = (message.next_attempt_at - message.created_at).total_seconds()
    assert BACKOFF[0] - 1 <= wait <= BACKOFF[0] + 5
    assert outbox.process_batch("test-worker", 10).claimed == 0


def test_a_410_disables_the_endpoint_and_holds_its_deliveries_unsent(receiver, subscribe):
    endpoint = subscribe(receiver)
    receiver.plan = [410]
    publish_event(EVENT, {"account_id": 1})
    db.session.commit()
    run_outbox(rounds=2)
    db.session.expire_all()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert not endpoint.active and "410" in endpoint.disabled_reason
    assert publish_event(EVENT, {"account_id": 2}) == 0
    db.session.commit()
    run_outbox()
    assert [d.status for d in deliveries()] == ["held", "held"]
    assert receiver.hits == 1


def test_a_receiver_that_keeps_failing_is_flagged_and_its_failures_can_be_replayed(
    app, receiver, subscribe
):
    endpoint = subscribe(receiver)
    receiver.plan = [500] * (len(BACKOFF) + 1)
    publish_event(EVENT, {"account_id": 1}, event_id="msg_stubborn")
    db.session.commit()
    run_outbox(rounds=len(BACKOFF) + 2)
    [delivery] = deliveries()
    assert (delivery.status, delivery.attempts) == ("failed", len(BACKOFF) + 1)
    assert db.session.scalar(select(outbox.OutboxMessage.status)) == "dead"
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert endpoint.consecutive_failures == len(BACKOFF) + 1
    assert services.is_flagged(endpoint)
    assert services.replay_failed(endpoint) == 1
    db.session.commit()
    run_outbox()
    assert receiver.ids == ["msg_stubborn"]
    assert deliveries()[0].status == "succeeded"


def test_a_receiver_that_is_down_or_slow_gets_the_event_later(app, receiver, subscribe):
    subscribe(receiver)
    down = services.create_endpoint("http://127.0.0.1:9/hooks", [EVENT], allow_private=True)[0]
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 0.3
    receiver.delay = 0.6
    try:
        publish_event(EVENT, {"account_id": 5})
        db.session.commit()
        run_outbox()
    finally:
        app.config["WEBHOOK_TIMEOUT_SECONDS"] = 15
        receiver.delay = 0.0
    errors = {d.endpoint_id: d.error for d in deliveries()}
    assert "ConnectionError" in errors.pop(down.id)
    assert "0.3 s deadline" in errors.popitem()[1]
    assert all(d.status == "pending" for d in deliveries())
    receiver.verified.clear()
    run_outbox()
    assert len(receiver.verified) == 1


def test_during_a_secret_rotation_both_the_old_and_the_new_secret_verify(receiver, subscribe):
    endpoint = subscribe(receiver)
    [old_secret] = receiver.secrets
    new_secret = services.rotate_secret(endpoint)
    db.session.commit()
    receiver.secrets = [old_secret]
    publish_event(EVENT, {"account_id": 1})
    db.session.commit()
    run_outbox()
    receiver.secrets = [new_secret]
    publish_event(EVENT, {"account_id": 2})
    db.session.commit()
    run_outbox()
    assert receiver.rejected == 0 and len(receiver.verified) == 2
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    endpoint.previous_secret_expires_at = dt.datetime(2000, 1, 1)
    db.session.commit()
    receiver.secrets = [old_secret]
    publish_event(EVENT, {"account_id": 3})
    db.session.commit()
    run_outbox()
    assert receiver.rejected == 1


def test_a_replay_resends_the_same_id_and_body(receiver, subscribe):
    subscribe(receiver)
    publish_event(EVENT, {"account_id": 9})
    db.session.commit()
    run_outbox()
    services.replay(deliveries()[0])
    db.session.commit()
    run_outbox()
    first, second = receiver.verified
    assert first["id"] == second["id"] and first["raw"] == second["raw"]


def test_publishing_the_same_event_id_twice_queues_one_delivery(receiver, subscribe):
    subscribe(receiver)
    assert publish_event(EVENT, {"account_id": 1}, event_id="msg_once") == 1
    assert publish_event(EVENT, {"account_id": 1}, event_id="msg_once") == 0
    db.session.commit()
    assert db.session.scalar(select(func.count(outbox.OutboxMessage.id))) == 1


def test_the_secret_is_stored_encrypted_and_shown_once(app):
    endpoint, secret = services.create_endpoint("http://127.0.0.1:1/x", [EVENT], allow_private=True)
    assert secret.startswith("whsec_")
    assert secret.removeprefix("whsec_") not in endpoint.secret_encrypted


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::127.0.0.1]/hook",  # IPv4-compatible
        "http://[64:ff9b::7f00:1]/hook",  # NAT64 to 127.0.0.1
        "http://[64:ff9b::808:808]/hook",  # NAT64, even to a public address
        "http://[64:ff9b:1::a00:1]/hook",  # local-use NAT64
        "http://[2002:7f00:1::1]/hook",  # 6to4
        "http://[fec0::1]/hook",  # site-local
        "http://168.63.129.16/machine",  # Azure wireserver
        "http://100.64.0.1/hook",  # carrier-grade NAT
        "http://[fd00:ec2::254]/latest/meta-data",  # AWS metadata over IPv6
        "http://0.0.0.0:8080/hook",
        "http://[::]/hook",
        "ftp://example.com/hook",
        "http://user:pw@example.com/hook",
    ],
)
def test_private_loopback_and_odd_targets_are_refused(url):
    with pytest.raises(UnsafeTargetError):
        check_target(url)


def test_a_public_address_is_accepted_and_private_ones_when_an_admin_allows_them():
    check_target("https://93.184.215.14/hook")
    check_target("http://10.1.2.3/hook", allow_private=True)


def test_an_endpoint_whose_private_permission_is_withdrawn_is_not_called(receiver, subscribe):
    endpoint = subscribe(receiver)
    endpoint.allow_private = False
    db.session.commit()
    publish_event(EVENT, {"account_id": 1})
    db.session.commit()
    run_outbox()
    assert receiver.hits == 0
    assert "UnsafeTargetError" in deliveries()[0].error


def test_a_host_that_resolves_inside_at_connection_time_is_refused_by_the_connection(receiver):
    # check_target has passed (DNS said "public"); the answer changed before the connection
    # (DNS rebinding): the session itself refuses to talk to the internal address it reached.
    with pytest.raises(UnsafeTargetError, match=r"127\.0\.0\.1 is private or loopback"):
        public_only_session().post(receiver.url, data=b"{}", timeout=5)
    assert receiver.hits == 0


def test_registering_a_private_target_without_permission_is_refused(app):
    with pytest.raises(UnsafeTargetError):
        services.create_endpoint("http://127.0.0.1:8000/x", [EVENT])


def test_the_test_event_goes_to_one_endpoint_only(receiver, subscribe):
    endpoint = subscribe(receiver)
    services.create_endpoint("http://127.0.0.1:9/other", [EVENT], allow_private=True)
    services.send_test(endpoint)
    db.session.commit()
    run_outbox()
    [item] = receiver.verified
    assert item["payload"]["type"] == "webhook.test"
    assert json.loads(item["raw"])["data"]["endpoint_id"] == endpoint.id


class DrippingReceiver:
    """A raw-socket receiver that sends `first`, then `drip` every 0.3 s, forever: each read
    succeeds, so only a deadline on the whole attempt can stop it."""

    def __init__(self, first: bytes, drip: bytes) -> None:
        self.first, self.drip = first, drip
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hooks"
        self.stopped = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        with contextlib.suppress(OSError):
            connection, _ = self.server.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(self.first)
                while not self.stopped.wait(0.3):
                    connection.sendall(self.drip)

    def stop(self) -> None:
        self.stopped.set()
        self.server.close()


@pytest.mark.parametrize(
    ("first", "drip"),
    [
        (b"HTTP/1.1 200 OK\r\n", b"X-Drip: 1\r\n"),  # headers that never end
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x"),  # a body that never ends
    ],
    ids=["headers", "body"],
)
def test_a_dripping_receiver_is_cut_at_the_deadline(app, monkeypatch, first, drip):
    receiver = DrippingReceiver(first, drip)
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT_SECONDS", 1)
    services.create_endpoint(receiver.url, [EVENT], allow_private=True)
    publish_event(EVENT, {"account_id": 3})
    db.session.commit()

    started = time.monotonic()
    run_outbox()
    took = time.monotonic() - started
    receiver.stop()

    assert took < 10  # the receiver would drip forever
    [delivery] = deliveries()
    assert delivery.status == "pending"
    assert delivery.error == "no complete answer within the 1 s deadline"


def test_a_lease_shorter_than_twice_the_webhook_deadline_stops_start_up():
    with pytest.raises(ConfigError, match="OUTBOX_LEASE_SECONDS=20 is too short"):
        check_outbox_timing({"OUTBOX_LEASE_SECONDS": 20, "WEBHOOK_TIMEOUT_SECONDS": 15})
    check_outbox_timing({"OUTBOX_LEASE_SECONDS": 300, "WEBHOOK_TIMEOUT_SECONDS": 15})


def test_a_slow_receiver_delays_neither_other_receivers_nor_emails(
    app, receiver, other_receiver, subscribe, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT_SECONDS", 5)
    other_receiver.delay = 1.0  # answers, but slowly: four events take it four seconds
    subscribe(other_receiver)
    subscribe(receiver)
    for number in range(4):
        publish_event(EVENT, {"account_id": number})
    ContactFactory()
    [invitation] = invite(CampaignFactory())  # an invitation email queued behind the webhooks
    db.session.commit()

    started, wall_clock = time.monotonic(), time.time()
    run_outbox()

    healthy = [arrived - started for arrived in receiver.arrived]
    slow = [arrived - started for arrived in other_receiver.arrived]
    mail = Path(app.config["MAIL_DIR"]) / f"survey-{invitation.id}-0_cs-platform.localhost.eml"
    assert len(healthy) == len(slow) == 4
    assert max(healthy) < min(slow)  # all four before the slow receiver answered even once
    assert mail.stat().st_mtime - wall_clock < min(slow)  # and the mail too
