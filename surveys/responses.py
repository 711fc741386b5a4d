"""What happens when a contact answers: one response per invitation, the closed loop, unsubscribe.

Services flush; the request commits. A detractor answer opens (or updates) the single open
"detractor" task of the account, assigned to the account's owner, and writes a timeline line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from cs_platform.extensions import db
from cs_platform.models import Contact, Task, TimelineEntry, utcnow
from cs_platform.webhooks.events import publish_survey_response_created, publish_task_created
from surveys.metrics import BAND_LIMITS, is_detractor, score_in_range
from surveys.models import Invitation, SurveyResponse
from surveys.tokens import hash_token, looks_like_token

COMMENT_MAX = 5000
DETRACTOR_REASON = "detractor"
KIND_LABELS = {"nps": "NPS", "csat": "CSAT", "ces": "CES"}


class InvitationNotFoundError(LookupError):
    """No invitation has this token (unknown or tampered): 404."""


class InvitationExpiredError(LookupError):
    """The invitation's link has expired: 410."""


class BadScoreError(ValueError):
    """The score is not a number on the survey's scale: 400."""


@dataclass(frozen=True)
class Recorded:
    response: SurveyResponse
    created: bool


def find_invitation(token: str, now: dt.datetime | None = None) -> Invitation:
    """The live invitation behind a link token, or InvitationNotFound / InvitationExpired."""
    if not looks_like_token(token):
        raise InvitationNotFoundError
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token))
    )
    if invitation is None or invitation.status == "cancelled":
        raise InvitationNotFoundError
    if invitation.expires_at <= (now or utcnow()):
        raise InvitationExpiredError
    return invitation


def parse_score(kind: str, raw: object) -> int:
    """The score as an int on the survey's scale, or BadScoreError."""
    try:
        score = int(str(raw).strip())
    except ValueError as exc:
        raise BadScoreError(f"{raw!r} is not a number") from exc
    if not score_in_range(kind, score):
        raise BadScoreError(f"{score} is outside the {kind} scale")
    return score


def record_score(invitation: Invitation, raw_score: object) -> Recorded:
    """Record or change the invitation's one response; runs the closed loop for detractors."""
    kind = invitation.campaign.survey.kind
    score = parse_score(kind, raw_score)
    now = utcnow()
    response, created = _response_of(invitation), False
    if response is None:
        response, created = _create_response(invitation, kind, score, now)
    if response.score != score:
        response.score, response.updated_at = score, now
    invitation.status, invitation.answered_at = "answered", invitation.answered_at or now
    if created:
        _timeline(invitation, f"{KIND_LABELS[kind]} {score} from {invitation.contact.name}")
    if is_detractor(kind, score):
        open_detractor_task(response)
    db.session.flush()
    return Recorded(response, created)


def record_comment(invitation: Invitation, comment: str) -> SurveyResponse | None:
    """Store the comment of an answered invitation (plain text, shown escaped)."""
    response = _response_of(invitation)
    text = (comment or "").strip()[:COMMENT_MAX]
    if response is None or not text:
        return response
    response.comment, response.updated_at = text, utcnow()
    if is_detractor(response.kind, response.score):
        open_detractor_task(response)
    db.session.flush()
    return response


def unsubscribe(invitation: Invitation) -> Contact:
    """Stop every survey to this contact, for good; queued emails are cancelled at send time."""
    contact = invitation.contact
    contact.unsubscribed_at = contact.unsubscribed_at or utcnow()
    db.session.flush()
    return contact


def _response_of(invitation: Invitation) -> SurveyResponse | None:
    return db.session.scalar(
        select(SurveyResponse).where(SurveyResponse.invitation_id == invitation.id)
    )


def _create_response(
    invitation: Invitation, kind: str, score: int, now: dt.datetime
) -> tuple[SurveyResponse, bool]:
    """Insert the response; a concurrent click that won the race is returned instead."""
    response = SurveyResponse(
        survey_id=invitation.campaign.survey_id,
        invitation_id=invitation.id,
        account_id=invitation.account_id,
        contact_id=invitation.contact_id,
        kind=kind,
        score=score,
        responded_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(response)
    except IntegrityError:
        existing = _response_of(invitation)
        if existing is None:
            raise
        return existing, False
    publish_survey_response_created(response)
    return response, True


def open_detractor_task(response: SurveyResponse) -> Task:
    """Create or update the one open detractor task of the response's account.

    Its details list every detractor answer of the account since the task was opened.
    """
    account = response.account
    task = _open_task(account.id)
    if task is None:
        try:
            with db.session.begin_nested():
                task = Task(
                    account_id=account.id,
                    kind="detractor",
                    reason=DETRACTOR_REASON,
                    severity="high",
                    owner_id=account.owner_id,
                    title=f"Call back the detractor at {account.name}",
                    details="",
                    due_date=(utcnow() + dt.timedelta(days=2)).date(),
                    created_at=response.updated_at or response.responded_at,
                )
                db.session.add(task)
                db.session.flush()
                publish_task_created(task)
        except IntegrityError:
            task = _open_task(account.id)
            if task is None:
                raise
    task.details = "\n\n".join(_describe(r) for r in _detractor_answers(task, response))
    return task


def _open_task(account_id: int) -> Task | None:
    return db.session.scalar(
        select(Task).where(
            Task.account_id == account_id,
            Task.kind == "detractor",
            Task.reason == DETRACTOR_REASON,
            Task.status != "done",
        )
    )


def _detractor_answers(task: Task, current: SurveyResponse) -> list[SurveyResponse]:
    """The account's detractor answers given or changed since the task opened, newest first."""
    detractor = or_(
        *(
            and_(SurveyResponse.kind == kind, SurveyResponse.score <= worst)
            for kind, (worst, _) in BAND_LIMITS.items()
        )
    )
    recent = or_(
        SurveyResponse.responded_at >= task.created_at,
        SurveyResponse.updated_at >= task.created_at,
        SurveyResponse.id == current.id,
    )
    query = select(SurveyResponse).where(
        SurveyResponse.account_id == task.account_id, detractor, recent
    )
    return list(db.session.scalars(query.order_by(SurveyResponse.responded_at.desc())))


def _describe(response: SurveyResponse) -> str:
    who = response.contact.name if response.contact else "an erased contact"
    line = f"{KIND_LABELS[response.kind]} {response.score} from {who}"
    if response.contact:
        line += f" <{response.contact.email}>"
    return f"{line}\n{response.comment}" if response.comment else line


def _timeline(invitation: Invitation, body: str) -> None:
    db.session.add(TimelineEntry(account_id=invitation.account_id, kind="survey", body=body))
