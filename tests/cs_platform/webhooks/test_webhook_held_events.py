"""Events published while an endpoint is disabled (by a 410 or by an admin) are held for it, not
sent, and go out in order, verified with the standardwebhooks package, once it is enabled again."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select, update

from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.retention import purge_expired
from cs_platform.webhooks import services
from cs_platform.webhooks.events import publish_event, publish_events, scrub_event_fields
from cs_platform.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from tests.cs_platform.webhooks.conftest import run_outbox

EVENT = "health_score.changed"


def statuses() -> list[str]:
    db.session.expire_all()
    query = select(WebhookDelivery.status).order_by(WebhookDelivery.id)
    return list(db.session.scalars(query))


def test_events_after_a_410_are_delivered_in_order_once_an_admin_re_enables_the_endpoint(
    receiver, subscribe, make_user, login
):
    endpoint = subscribe(receiver)
    receiver.plan = [410]
    publish_event(EVENT, {"account_id": 1}, event_id="msg_first")
    db.session.commit()
    run_outbox()
    publish_event(EVENT, {"account_id": 2}, event_id="msg_second")
    publish_event(EVENT, {"account_id": 3}, event_id="msg_third")
    db.session.commit()
    run_outbox()
    assert receiver.verified == [] and statuses() == ["held", "held", "held"]

    admin = login(make_user("admin"))
    page = admin.get(f"/admin/webhooks/{endpoint.id}")
    assert "3 events held" in page.text
    assert "they are delivered when you re-enable it" in page.text
    enabled = admin.post(f"/admin/webhooks/{endpoint.id}/active", follow_redirects=True)
    assert "3 held events queued" in enabled.text
    run_outbox()

    assert receiver.ids == ["msg_first", "msg_second", "msg_third"]
    assert receiver.rejected == 0
    assert [item["payload"]["data"]["account_id"] for item in receiver.verified] == [1, 2, 3]
    assert statuses() == ["succeeded"] * 3


def test_events_are_held_while_an_admin_has_disabled_the_endpoint(receiver, subscribe):
    endpoint = subscribe(receiver)
    services.set_active(endpoint, False)
    db.session.commit()
    assert publish_events(EVENT, [{"account_id": 1}, {"account_id": 2}], ["msg_a", "msg_b"]) == 0
    db.session.commit()
    run_outbox()
    assert receiver.hits == 0 and statuses() == ["held", "held"]
    assert services.held_count(endpoint) == 2

    assert services.set_active(endpoint, True) == 2
    db.session.commit()
    run_outbox()
    assert receiver.ids == ["msg_a", "msg_b"]


def test_a_queued_delivery_is_held_when_its_endpoint_is_disabled_before_it_leaves(
    receiver, subscribe
):
    endpoint = subscribe(receiver)
    publish_event(EVENT, {"account_id": 1}, event_id="msg_queued")
    services.set_active(endpoint, False)
    db.session.commit()
    run_outbox()
    assert receiver.hits == 0 and statuses() == ["held"]
    services.set_active(endpoint, True)
    db.session.commit()
    run_outbox()
    assert receiver.ids == ["msg_queued"]


def test_a_disabled_endpoint_holds_only_the_events_it_subscribes_to(receiver, subscribe):
    endpoint = subscribe(receiver, ["task.created"])
    services.set_active(endpoint, False)
    publish_event(EVENT, {"account_id": 1})
    publish_event("task.created", {"id": 7})
    assert [row.event_type for row in db.session.scalars(select(WebhookDelivery))] == [
        "task.created"
    ]


def test_a_delivery_held_while_the_endpoint_was_being_enabled_goes_out_with_replay_all_failed(
    receiver, subscribe
):
    endpoint = subscribe(receiver)
    services.set_active(endpoint, False)
    publish_event(EVENT, {"account_id": 1}, event_id="msg_raced")
    db.session.commit()
    # A publisher that read the endpoint as disabled commits after it was enabled.
    db.session.execute(update(WebhookEndpoint).values(active=True))
    db.session.commit()
    assert services.replay_failed(db.session.get(WebhookEndpoint, endpoint.id)) == 1
    db.session.commit()
    run_outbox()
    assert receiver.ids == ["msg_raced"]


def test_held_deliveries_and_events_past_the_retention_window_are_dropped(app, receiver, subscribe):
    endpoint = subscribe(receiver)
    services.set_active(endpoint, False)
    publish_event(EVENT, {"account_id": 1}, event_id="msg_old")
    publish_event(EVENT, {"account_id": 2}, event_id="msg_recent")
    long_ago = utcnow() - dt.timedelta(days=app.config["DELIVERY_LOG_RETENTION_DAYS"] + 1)
    for model in (WebhookDelivery, WebhookEvent):
        db.session.execute(
            update(model).where(model.message_id == "msg_old").values(created_at=long_ago)
        )
    result = purge_expired()
    assert (result.webhook_deliveries, result.webhook_events) == (1, 1)
    assert services.set_active(endpoint, True) == 1
    db.session.commit()
    run_outbox()
    assert receiver.ids == ["msg_recent"]


def test_an_event_is_stored_once_however_many_endpoints_receive_it(receiver, subscribe):
    first, second = subscribe(receiver), subscribe(receiver)
    services.set_active(second, False)
    publish_event(EVENT, {"account_id": 1}, event_id="msg_shared")
    publish_event(EVENT, {"account_id": 1}, event_id="msg_shared")  # published again: no-op
    [stored] = db.session.scalars(select(WebhookEvent)).all()
    rows = db.session.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.event_id, WebhookDelivery.body)
    ).all()
    assert sorted(rows) == [
        (first.id, stored.id, stored.body),
        (second.id, stored.id, stored.body),
    ]


def test_an_event_is_stored_even_when_no_endpoint_subscribes(app):
    publish_event("task.created", {"id": 9}, event_id="msg_unheard")
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert db.session.scalar(select(WebhookEvent.message_id)) == "msg_unheard"


def test_erasing_a_respondent_can_blank_their_fields_in_stored_events(app):
    publish_event("survey_response.created", {"id": 5, "contact_id": 8, "comment": "Hi, Ada"})
    publish_event("survey_response.created", {"id": 6, "contact_id": 9, "comment": "Fine"})
    types = ["survey_response.created", "survey_response.updated"]
    assert scrub_event_fields(WebhookEvent, types, {5}, ["contact_id", "comment"]) == 1
    bodies = [json.loads(body)["data"] for body in db.session.scalars(select(WebhookEvent.body))]
    assert sorted(bodies, key=lambda data: data["id"]) == [
        {"id": 5, "contact_id": None, "comment": None},
        {"id": 6, "contact_id": 9, "comment": "Fine"},
    ]
