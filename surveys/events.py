"""The survey domain's webhook events: survey_response.created at the first click, and
survey_response.updated when the score changes or a comment is added or changed, so RevOps
learns what the respondent finally said, not only their first click."""

from __future__ import annotations

from cs_platform.models import utc_iso
from cs_platform.webhooks.events import publish_event
from surveys.models import SurveyResponse


def response_data(response: SurveyResponse) -> dict:
    """What both events carry: the response as it stands, times in UTC with their offset."""
    return {
        "id": response.id,
        "account_id": response.account_id,
        "survey_id": response.survey_id,
        "contact_id": response.contact_id,
        "kind": response.kind,
        "score": response.score,
        "comment": response.comment,
        "responded_at": utc_iso(response.responded_at),
        "updated_at": utc_iso(response.updated_at),
    }


def publish_survey_response_created(response: SurveyResponse) -> int:
    """survey_response.created for a flushed SurveyResponse."""
    data = response_data(response)
    return publish_event("survey_response.created", data, f"msg_survey_response_{response.id}")


def publish_survey_response_updated(response: SurveyResponse, changed: list[str]) -> int:
    """survey_response.updated for a changed score or comment; `changed` names the fields. Each
    change is its own event (its id carries the change's time), so none is deduplicated away."""
    version = int(response.updated_at.timestamp() * 1000) if response.updated_at else 0
    event_id = f"msg_survey_response_{response.id}_{version}"
    data = {**response_data(response), "changed": changed}
    return publish_event("survey_response.updated", data, event_id)
