"""RevOps hears every answer as it ends up: survey_response.created at the first click, then
survey_response.updated for each changed score or added comment, with UTC offsets."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.webhooks.models import WebhookDelivery
from surveys.models import SurveyResponse
from tests.factories import AccountFactory, CampaignFactory, ContactFactory, SurveyFactory
from tests.surveys.helpers import invite, subscribe_to_every_event, token_of


@pytest.fixture
def invited(app):
    subscribe_to_every_event()
    ContactFactory(account=AccountFactory(name="Acme"))
    [invitation] = invite(CampaignFactory(survey=SurveyFactory()))
    return token_of(invitation)


def events() -> list[tuple[str, dict]]:
    """(type, data) of every survey event queued, oldest first."""
    query = select(WebhookDelivery).where(WebhookDelivery.event_type.like("survey_response.%"))
    rows = db.session.scalars(query.order_by(WebhookDelivery.id))
    return [(row.event_type, json.loads(row.body)["data"]) for row in rows]


def test_the_first_click_is_created_and_its_time_carries_its_offset(client, invited):
    client.post(f"/s/{invited}/answer", data={"score": "9"})
    [(kind, data)] = events()
    assert kind == "survey_response.created"
    assert (data["score"], data["comment"], data["updated_at"]) == (9, None, None)
    assert data["responded_at"].endswith("+00:00")


def test_a_comment_added_after_the_click_is_an_update_with_the_comment(client, invited):
    client.post(f"/s/{invited}/answer", data={"score": "9"})
    client.post(f"/s/{invited}/comment", data={"comment": "Great exports"})
    created, (kind, data) = events()
    assert kind == "survey_response.updated"
    assert (data["comment"], data["changed"]) == ("Great exports", ["comment"])
    assert data["updated_at"].endswith("+00:00") and data["id"] == created[1]["id"]
    stored = db.session.get(SurveyResponse, data["id"])
    assert stored.changed_at == stored.updated_at > stored.responded_at  # next updated_since pull


def test_saving_the_same_comment_again_tells_nothing_new(client, invited):
    client.post(f"/s/{invited}/answer", data={"score": "9"})
    client.post(f"/s/{invited}/comment", data={"comment": "Great exports"})
    client.post(f"/s/{invited}/comment", data={"comment": "Great exports "})
    assert [kind for kind, _ in events()].count("survey_response.updated") == 1


def test_a_changed_score_is_an_update_and_so_is_the_comment_it_drops(client, invited):
    client.post(f"/s/{invited}/answer", data={"score": "9"})
    client.post(f"/s/{invited}/answer", data={"score": "10"})  # same band: comment kept
    client.post(f"/s/{invited}/comment", data={"comment": "Great exports"})
    client.post(f"/s/{invited}/answer", data={"score": "3"})  # detractor: the comment goes
    updates = [data for kind, data in events() if kind == "survey_response.updated"]
    assert [update["changed"] for update in updates] == [
        ["score"],
        ["comment"],
        ["score", "comment"],
    ]
    assert (updates[-1]["score"], updates[-1]["comment"]) == (3, None)


def test_clicking_the_score_already_given_tells_nothing(client, invited):
    client.post(f"/s/{invited}/answer", data={"score": "9"})
    client.post(f"/s/{invited}/answer", data={"score": "9"})
    assert [kind for kind, _ in events()] == ["survey_response.created"]
