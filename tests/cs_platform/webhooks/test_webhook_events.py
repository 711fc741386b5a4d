"""Events of the kernel and the surveys: survey_response.created and task.created reach a
subscribed endpoint (score changes and risk flags: tests/scoring/test_events.py)."""

from __future__ import annotations

from cs_platform.extensions import db
from cs_platform.webhooks.events import publish_task_created
from surveys.events import publish_survey_response_created
from tests.cs_platform.webhooks.conftest import run_outbox
from tests.factories import SurveyResponseFactory, TaskFactory


def test_survey_responses_and_tasks_have_their_own_events(receiver, subscribe):
    subscribe(receiver, ["survey_response.created", "task.created"])
    response = SurveyResponseFactory(score=2, comment="Too slow")
    task = TaskFactory()
    publish_survey_response_created(response)
    publish_task_created(task)
    db.session.commit()
    run_outbox()
    types = {item["payload"]["type"]: item["payload"]["data"] for item in receiver.verified}
    assert types["survey_response.created"]["comment"] == "Too slow"
    assert types["task.created"]["id"] == task.id
