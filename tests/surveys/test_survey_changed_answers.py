"""A changed answer keeps everything in step: the one timeline line of the answer, the comment
(dropped when the score moves to another band, kept within it) and the detractor task."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import Task, TimelineEntry
from cs_platform.webhooks.models import WebhookDelivery
from surveys.models import SurveyResponse
from tests.factories import AccountFactory, CampaignFactory, ContactFactory, SurveyFactory
from tests.surveys.helpers import invite, subscribe_to_every_event, token_of


@pytest.fixture
def token(app, make_user) -> str:
    """One NPS invitation to Dana Diaz of Acme, owned by a CSM."""
    account = AccountFactory(name="Acme", owner_id=make_user("csm").id)
    ContactFactory(account=account, name="Dana Diaz")
    [invitation] = invite(CampaignFactory(survey=SurveyFactory(product_name="Orbit")))
    return token_of(invitation)


def answer(client, token: str, score: int, comment: str | None = None) -> None:
    assert client.post(f"/s/{token}/answer", data={"score": str(score)}).status_code == 303
    if comment is not None:
        assert client.post(f"/s/{token}/comment", data={"comment": comment}).status_code == 303


def stored() -> SurveyResponse:
    db.session.expire_all()
    [response] = db.session.scalars(select(SurveyResponse)).all()
    return response


def lines(kind: str = "survey") -> list[str]:
    return list(db.session.scalars(select(TimelineEntry.body).where(TimelineEntry.kind == kind)))


def tasks() -> list[Task]:
    db.session.expire_all()
    return list(db.session.scalars(select(Task).order_by(Task.id)))


def test_a_promoter_turning_detractor_rewrites_the_line_drops_the_comment_and_opens_a_task(
    client, token
):
    answer(client, token, 9, "The exports are great")
    answer(client, token, 3)
    response = stored()
    assert (response.score, response.comment) == (3, None)
    assert lines() == ["NPS 3 from Dana Diaz (changed from 9)"]
    [task] = tasks()
    assert (task.kind, task.status) == ("detractor", "open")
    assert "NPS 3 from Dana Diaz" in task.details and "exports" not in task.details


def test_a_change_within_the_band_keeps_the_comment(client, token):
    answer(client, token, 9, "The exports are great")
    answer(client, token, 10)
    assert (stored().score, stored().comment) == (10, "The exports are great")
    assert lines() == ["NPS 10 from Dana Diaz (changed from 9)"]


@pytest.mark.parametrize(
    ("kind", "first", "then", "kept"),
    [("nps", 7, 8, True), ("nps", 8, 9, False), ("csat", 5, 4, True), ("csat", 3, 2, False),
     ("ces", 2, 1, True), ("ces", 5, 4, False)],
)  # fmt: skip
def test_the_comment_follows_the_band_of_every_survey_kind(client, kind, first, then, kept):
    ContactFactory()
    [invitation] = invite(CampaignFactory(survey=SurveyFactory(kind=kind)))
    answer(client, token_of(invitation), first, "Said for the first score")
    answer(client, token_of(invitation), then)
    assert (stored().comment is not None) is kept


def test_a_detractor_turning_promoter_closes_the_task_nobody_needs_to_work(client, token):
    answer(client, token, 2, "Exports keep failing")
    answer(client, token, 9)
    [task] = tasks()
    assert (task.status, task.outcome) == ("done", "not_a_risk")
    assert lines() == ["NPS 9 from Dana Diaz (changed from 2)"]
    assert lines("task") == [
        "Closed “Call back the detractor at Acme” as not a risk: Dana Diaz changed the answer to "
        "NPS 9"
    ]


def test_a_task_still_listing_another_detractor_stays_open_without_the_changed_answer(client):
    account = AccountFactory(name="Acme")
    ContactFactory(account=account, name="First Person")
    ContactFactory(account=account, name="Second Person")
    first, second = invite(CampaignFactory())
    answer(client, token_of(first), 0)
    answer(client, token_of(second), 4)
    answer(client, token_of(first), 10)
    [task] = tasks()
    assert task.status == "open"
    assert "NPS 4 from Second Person" in task.details and "First Person" not in task.details


def test_changing_back_to_a_detractor_opens_a_fresh_task(client, token):
    answer(client, token, 2)
    answer(client, token, 9)
    answer(client, token, 1)
    closed, fresh = tasks()
    assert (closed.status, fresh.status) == ("done", "open")
    assert "NPS 1 from Dana Diaz" in fresh.details
    assert lines() == ["NPS 1 from Dana Diaz (changed from 9)"]


def test_clicking_the_same_score_again_changes_nothing(client, token):
    answer(client, token, 3, "Slow")
    before = stored().updated_at
    answer(client, token, 3)
    assert (stored().comment, stored().updated_at) == ("Slow", before)
    assert lines() == ["NPS 3 from Dana Diaz"] and len(tasks()) == 1


def test_a_changed_answer_publishes_an_update_not_a_second_creation_and_the_line_matches(
    client, token
):
    subscribe_to_every_event()
    answer(client, token, 9)
    answer(client, token, 3)
    events = db.session.scalars(select(WebhookDelivery.event_type).order_by(WebhookDelivery.id))
    assert list(events) == [
        "survey_response.created",
        "task.created",
        "survey_response.updated",
    ]
    assert lines() == [f"NPS {stored().score} from Dana Diaz (changed from 9)"]


def test_a_renamed_contact_gets_a_new_line_rather_than_a_wrong_one(client, token):
    answer(client, token, 9)
    stored().contact.name = "Dana Diaz-Lee"
    db.session.commit()
    answer(client, token, 6)
    assert lines() == ["NPS 9 from Dana Diaz", "NPS 6 from Dana Diaz-Lee (changed from 9)"]


def test_the_score_page_states_the_comment_rule_to_a_contact_who_commented(client, token):
    answer(client, token, 9)
    assert "your comment" not in client.get(f"/s/{token}/9").text.lower()
    answer(client, token, 9, "Great")
    page = client.get(f"/s/{token}/3").text
    assert "Your comment stays if the new score asks the same follow-up question" in page
