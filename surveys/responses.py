"""What happens when a contact answers: one response per invitation, the closed loop, unsubscribe.

Services flush; the request commits. A detractor answer opens (or updates) the single open
"detractor" task of the account, assigned to the account's owner, and writes a timeline line.

A contact may change the answer from the same email while the link is valid. The response, its
timeline line and the detractor task then follow the new score:

* the timeline line of the answer is rewritten ("NPS 3 from Dana Diaz (changed from 9)");
* a score that becomes a detractor's opens or updates the task; one that leaves the detractor
  band is taken off the task's details, and a task with no detractor answer left is closed as
  "not a risk", with a timeline line saying why, so nobody calls back a promoter;
* the comment answers the follow-up question of its score's band: a change to a score of
  another band drops it (the comment page then asks the new band's question afresh); a change
  within the band keeps it. The score page says so to a contact who has answered.

Webhooks: survey_response.created is published once, when the response is first recorded (in
_create_response); a changed answer publishes nothing, and the stored response with its
rewritten timeline line is what the API and the account page show.

Unsubscribing works for every invitation ever sent, expired, answered or cancelled, and, through
the opt-out token of its email (surveys.tokens), after its campaign is deleted too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from cs_platform import clock
from cs_platform.extensions import db
from cs_platform.models import Contact, Task, TimelineEntry, utcnow
from cs_platform.webhooks.events import publish_task_created
from surveys.events import publish_survey_response_created, publish_survey_response_updated
from surveys.models import Invitation, Survey, SurveyResponse
from surveys.survey_metrics import BAND_LIMITS, band, is_detractor, score_in_range
from surveys.tokens import hash_token, looks_like_token, read_opt_out_token

COMMENT_MAX = 5000  # characters, newlines counted as one, as the textarea's maxlength counts
DETRACTOR_REASON = "detractor"
KIND_LABELS = {"nps": "NPS", "csat": "CSAT", "ces": "CES"}
# The answer's timeline line is written in the request that records it, so within this long.
LINE_WINDOW = dt.timedelta(minutes=1)


class InvitationNotFoundError(LookupError):
    """No invitation has this token (unknown or tampered): 404."""


class InvitationExpiredError(LookupError):
    """The invitation's link has expired: 410."""


class BadScoreError(ValueError):
    """The score is not a number on the survey's scale: 400."""


class CommentTooLongError(ValueError):
    """The comment is longer than COMMENT_MAX characters: refused, never cut."""


@dataclass(frozen=True)
class Recorded:
    response: SurveyResponse
    created: bool


def find_invitation(token: str, now: dt.datetime | None = None) -> Invitation:
    """The live invitation behind a link token, or InvitationNotFound / InvitationExpired."""
    invitation = find_sent_invitation(token)
    if invitation.status == "cancelled":
        raise InvitationNotFoundError
    if invitation.expires_at <= (now or utcnow()):
        raise InvitationExpiredError
    return invitation


def find_sent_invitation(token: str) -> Invitation:
    """The invitation behind a link token whatever its state, for unsubscribing, which never
    expires; or InvitationNotFound."""
    if not looks_like_token(token):
        raise InvitationNotFoundError
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token))
    )
    if invitation is None:
        raise InvitationNotFoundError
    return invitation


def find_opt_out(token: str) -> tuple[Contact | None, Survey | None]:
    """The contact and survey of an email's opt-out token (None where since deleted: an erased
    contact gets no mail anyway), or InvitationNotFound for a token that does not verify."""
    ids = read_opt_out_token(current_app.config["SECRET_KEY"], token)
    if ids is None:
        raise InvitationNotFoundError
    return db.session.get(Contact, ids[0]), db.session.get(Survey, ids[1])


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
    """Record or change the invitation's one response; runs the closed loop for detractors.

    Clicking the score the response already holds changes nothing.
    """
    kind = invitation.campaign.survey.kind
    score = parse_score(kind, raw_score)
    now = utcnow()
    response, created = _response_of(invitation), False
    if response is None:
        response, created = _create_response(invitation, kind, score, now)
    invitation.status, invitation.answered_at = "answered", invitation.answered_at or now
    if created:
        _timeline(invitation, _answer_line(response, invitation.contact), now)
        if is_detractor(kind, score):
            open_detractor_task(response)
    elif response.score != score:
        _change_score(invitation, response, score, now)
    db.session.flush()
    return Recorded(response, created)


def _change_score(
    invitation: Invitation, response: SurveyResponse, score: int, now: dt.datetime
) -> None:
    """Move the response to `score` with its timeline line, comment and detractor task."""
    previous, contact = response.score, invitation.contact
    entry = _answer_entry(response, contact)
    response.score, response.updated_at, response.changed_at = score, now, now
    changed = ["score"]
    if band(response.kind, previous) != band(response.kind, score) and response.comment:
        response.comment = None  # it answered the other band's follow-up question
        changed.append("comment")
    body = f"{_answer_line(response, contact)} (changed from {previous})"
    if entry is None:  # the line names the contact as it was then; a renamed one gets a new line
        _timeline(invitation, body, now)
    else:
        entry.body = body
    if is_detractor(response.kind, score):
        open_detractor_task(response)
    elif is_detractor(response.kind, previous):
        release_detractor_task(response)
    publish_survey_response_updated(response, changed)


def clean_comment(comment: str | None) -> str:
    """The comment as stored: trimmed, with LF newlines (browsers send a textarea's as CRLF,
    which its maxlength counted as one); CommentTooLongError past COMMENT_MAX characters."""
    text = (comment or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > COMMENT_MAX:
        raise CommentTooLongError(f"{len(text)} characters, at most {COMMENT_MAX}")
    return text


def record_comment(invitation: Invitation, comment: str) -> SurveyResponse | None:
    """Store the comment of an answered invitation (plain text, shown escaped), or raise
    CommentTooLongError and store nothing."""
    response = _response_of(invitation)
    text = clean_comment(comment)
    if response is None or not text or text == response.comment:
        return response
    response.comment = text
    response.updated_at = response.changed_at = utcnow()
    if is_detractor(response.kind, response.score):
        open_detractor_task(response)
    db.session.flush()
    publish_survey_response_updated(response, ["comment"])
    return response


def unsubscribe(contact: Contact | None) -> None:
    """Stop every survey to this contact, for good; queued emails are cancelled at send time.

    Idempotent: the first date stays. An erased contact (None) has nothing left to stop.
    """
    if contact is not None:
        contact.unsubscribed_at = contact.unsubscribed_at or utcnow()
        db.session.flush()


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
        changed_at=now,
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
                    due_date=clock.today() + dt.timedelta(days=2),
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


def release_detractor_task(response: SurveyResponse) -> Task | None:
    """Take an answer that left the detractor band off the open task; a task with no detractor
    answer left is closed as not a risk, the way a CSM would close it, with a timeline line."""
    task = _open_task(response.account_id)
    if task is None:
        return None
    answers = _detractor_answers(task, response)
    if answers:
        task.details = "\n\n".join(_describe(r) for r in answers)
        return task
    task.status, task.outcome, task.completed_at = "done", "not_a_risk", utcnow()
    task.snoozed_until = None
    who = response.contact.name if response.contact else "the contact"
    note = f"{who} changed the answer to {KIND_LABELS[response.kind]} {response.score}"
    db.session.add(
        TimelineEntry(
            account_id=task.account_id,
            kind="task",
            body=f"Closed “{task.title}” as not a risk: {note}",
        )
    )
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


def _answer_line(response: SurveyResponse, contact: Contact) -> str:
    return f"{KIND_LABELS[response.kind]} {response.score} from {contact.name}"


def _answer_entry(response: SurveyResponse, contact: Contact) -> TimelineEntry | None:
    """The timeline line of the response as it stands: the account's survey line written with
    it that names its contact and its current score (first given or changed to)."""
    line = _answer_line(response, contact)
    written = db.session.scalars(
        select(TimelineEntry)
        .where(
            TimelineEntry.account_id == response.account_id,
            TimelineEntry.kind == "survey",
            TimelineEntry.created_at.between(
                response.responded_at, response.responded_at + LINE_WINDOW
            ),
        )
        .order_by(TimelineEntry.id)
    )
    return next((e for e in written if e.body == line or e.body.startswith(f"{line} (")), None)


def _timeline(invitation: Invitation, body: str, at: dt.datetime) -> None:
    db.session.add(
        TimelineEntry(account_id=invitation.account_id, kind="survey", body=body, created_at=at)
    )
