"""The public response pages under /s/<token>: no login, the link token is the only credential.

Scanner-proof by construction: nothing is recorded without a person's click. A GET never records
anything, and the page runs no script: the score link opens a page with the score preselected
and the "Send my answer" button, which a person presses (link scanners that run JavaScript,
with their automation flag masked or not, never do). Then the comment page, then thank-you.

Previews: the links of a campaign's "Send a test" email carry a preview token (surveys.tokens)
and open these same pages with a banner on each, recording nothing: no response, task,
timeline line, webhook or unsubscribe. A preview token names a campaign, never an invitation,
so no request made with it can record a real answer.

Unsubscribing never expires: /s/<token>/unsubscribe takes any invitation ever sent (expired,
answered or cancelled), and /unsubscribe/<opt-out token>, the link and List-Unsubscribe header
of every email, keeps working once the campaign and its invitations are deleted. Both only
unsubscribe, and every POST answers the same.

CSRF: these forms are exempt. The unguessable token in the URL is the credential (a forged
cross-site request would need it, and whoever holds it can post directly), there is no session
to ride on, and RFC 8058 one-click unsubscribe POSTs come from mail providers without any token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from cs_platform.extensions import csrf, db, limiter
from cs_platform.models import Contact
from surveys.emails import score_links
from surveys.models import Campaign, Invitation, Survey, SurveyResponse
from surveys.responses import (
    COMMENT_MAX,
    BadScoreError,
    CommentTooLongError,
    InvitationExpiredError,
    InvitationNotFoundError,
    clean_comment,
    find_invitation,
    find_opt_out,
    find_sent_invitation,
    parse_score,
    record_comment,
    record_score,
    unsubscribe,
)
from surveys.survey_metrics import band
from surveys.texts import FALLBACK_LOCALE, fill, resolve_texts
from surveys.tokens import preview_campaign_id

bp = Blueprint(
    "survey_public",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/survey-assets",
)
csrf.exempt(bp)
limiter.limit(lambda: current_app.config["SURVEY_PAGE_RATE_LIMIT"])(bp)

PROBLEMS = {
    400: "That answer is not on the scale. Please pick one of the numbers.",
    404: "This survey link is not valid. Please use the link from your email as it is.",
    410: "This survey has closed. Thank you for your interest.",
    413: "That was too much to send at once. Please go back and shorten your comment.",
    429: "Too many requests. Please wait a minute and try again.",
}


@dataclass(frozen=True)
class Visit:
    """What a /s/<token> link opens: an invitation, or (invitation None) a campaign's preview."""

    token: str
    survey: Survey
    invitation: Invitation | None

    @property
    def preview(self) -> bool:
        return self.invitation is None


@bp.errorhandler(HTTPException)
def problem_page(error: HTTPException):
    """Friendly page for every error on the public pages; it reveals nothing about the account."""
    code = error.code or 500
    text = PROBLEMS.get(code, "Something went wrong. Please try again later.")
    return render_template("surveys/public/problem.html", code=code, message=text), code


def load(token: str, *, lasting: bool = False) -> Visit:
    """The visit behind a link token; `lasting` (unsubscribing) takes any invitation ever sent."""
    campaign_id = preview_campaign_id(current_app.config["SECRET_KEY"], token)
    if campaign_id is not None:
        campaign = db.session.get(Campaign, campaign_id)
        if campaign is None:
            abort(404)
        return Visit(token, campaign.survey, None)
    try:
        invitation = find_sent_invitation(token) if lasting else find_invitation(token)
    except InvitationNotFoundError:
        abort(404)
    except InvitationExpiredError:
        abort(410)
    return Visit(token, invitation.campaign.survey, invitation)


def page_context(survey: Survey | None, contact: Contact | None) -> dict:
    """Survey, locale and texts for `contact`, filled in. Without a contact (a preview) {name}
    stays as written; without a survey (deleted, for an opt-out) the built-in texts apply."""
    locale_hint = contact.locale if contact else None
    if survey is None:
        locale, texts = resolve_texts("nps", {}, FALLBACK_LOCALE, locale_hint)
    else:
        custom = survey.texts or {}
        locale, texts = resolve_texts(survey.kind, custom, survey.default_locale, locale_hint)
    values = {"product": survey.product_name} if survey else {}
    if contact is not None:
        values["name"] = contact.name.split(" ")[0]
    follow_up = {key: fill(value, **values) for key, value in texts["follow_up"].items()}
    filled = {key: fill(value, **values) for key, value in texts.items() if key != "follow_up"}
    return {"survey": survey, "locale": locale, "texts": filled, "follow_up": follow_up}


def visit_context(visit: Visit) -> dict:
    contact = visit.invitation.contact if visit.invitation else None
    return {**page_context(visit.survey, contact), "token": visit.token, "preview": visit.preview}


def current_response(visit: Visit) -> SurveyResponse | None:
    if visit.invitation is None:
        return None
    query = db.session.query(SurveyResponse).filter_by(invitation_id=visit.invitation.id)
    return query.one_or_none()


@bp.get("/s/<token>")
def scale(token: str):
    """The whole scale as buttons, for a link opened without a score."""
    return show_score_page(load(token), None)


@bp.get("/s/<token>/<raw_score>")
def score_page(token: str, raw_score: str):
    """The chosen score, preselected; recorded only by the POST this page makes."""
    visit = load(token)
    try:
        score = parse_score(visit.survey.kind, raw_score)
    except BadScoreError:
        abort(400)
    return show_score_page(visit, score)


def show_score_page(visit: Visit, score: int | None):
    response = current_response(visit)
    page = render_template(
        "surveys/public/score.html",
        score=score,
        links=score_links(visit.survey.kind, ""),
        previous=response.score if response else None,
        has_comment=bool(response and response.comment),
        **visit_context(visit),
    )
    return no_store(page)


@bp.post("/s/<token>/answer")
def answer(token: str):
    """Record (or change) the score, then ask for a comment; a preview only passes it along."""
    visit = load(token)
    try:
        score = parse_score(visit.survey.kind, request.form.get("score", ""))
    except BadScoreError:
        abort(400)
    if visit.invitation is None:
        return redirect(url_for(".comment", token=token, score=score), 303)
    record_score(visit.invitation, score)
    db.session.commit()
    return redirect(url_for(".comment", token=token), 303)


def answered(visit: Visit) -> tuple[int, str] | None:
    """The score the comment page follows up and the comment so far: the stored response's, or
    a preview's from ?score= (a preview stores nothing to read it back from)."""
    if visit.preview:
        try:
            return parse_score(visit.survey.kind, request.args.get("score", "")), ""
        except BadScoreError:
            return None
    response = current_response(visit)
    return (response.score, response.comment or "") if response else None


@bp.route("/s/<token>/comment", methods=["GET", "POST"])
def comment(token: str):
    """The follow-up question of the score's band; saving the comment leads to thank-you. A
    comment over COMMENT_MAX characters is refused (422) with the page and the text again."""
    visit = load(token)
    found = answered(visit)
    if found is None:
        return redirect(url_for(".scale", token=token), 303)
    score, text = found
    if request.method != "POST":
        return comment_page(visit, score, text)
    typed = request.form.get("comment", "")
    try:
        save_comment(visit, typed)
    except CommentTooLongError:
        return comment_page(visit, score, typed, too_long=True), 422
    return redirect(url_for(".thanks", token=token), 303)


def save_comment(visit: Visit, typed: str) -> None:
    """Record the comment; a preview records nothing but refuses what an answer would."""
    if visit.invitation is None:
        clean_comment(typed)
        return
    record_comment(visit.invitation, typed)
    db.session.commit()


def comment_page(visit: Visit, score: int, text: str, too_long: bool = False) -> Response:
    """The comment page with `text` in its textarea, saying so when it is too long."""
    context = visit_context(visit)
    passed_on: dict[str, Any] = {"score": score} if visit.preview else {}  # url_for's **values
    return no_store(
        render_template(
            "surveys/public/comment.html",
            question=context["follow_up"][band(visit.survey.kind, score)],
            comment=text,
            comment_max=COMMENT_MAX,
            too_long=too_long,
            action=url_for(".comment", token=visit.token, **passed_on),
            **context,
        )
    )


@bp.get("/s/<token>/thanks")
def thanks(token: str):
    """Thank-you page; links back to change the answer while the link is valid."""
    return no_store(render_template("surveys/public/thanks.html", **visit_context(load(token))))


@bp.route("/s/<token>/unsubscribe", methods=["GET", "POST"])
def unsubscribe_page(token: str):
    """The unsubscribe link of the answer pages (and of emails sent before opt-out tokens)."""
    visit = load(token, lasting=True)
    contact = visit.invitation.contact if visit.invitation else None
    return opt_out(contact, visit_context(visit))


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def lasting_unsubscribe(token: str):
    """The email's unsubscribe link and List-Unsubscribe URL: the contact and survey are in
    the signed token, so it outlives the invitation, its expiry and its campaign."""
    try:
        contact, survey = find_opt_out(token)
    except InvitationNotFoundError:
        abort(404)
    return opt_out(contact, {**page_context(survey, contact), "preview": False})


def opt_out(contact: Contact | None, context: dict) -> Response:
    """GET asks; POST (the page's button, or an RFC 8058 one-click POST) unsubscribes.

    The GET must stay a confirm page that changes nothing: mail security scanners (Safe Links,
    Proofpoint and the like) fetch every link of an email, and some follow the links of the
    pages they land on, which now carry this link too; a GET that unsubscribed would drop
    contacts who never clicked. A POST is idempotent and a preview's records nothing.
    """
    if request.method == "POST":
        if not context["preview"]:
            unsubscribe(contact)
            db.session.commit()
        return no_store(render_template("surveys/public/unsubscribed.html", **context))
    page = render_template("surveys/public/unsubscribe.html", action=request.path, **context)
    return no_store(page)


def no_store(body: str) -> Response:
    """Pages behind a token are private: no caching, no referrer to outside links."""
    response = Response(body, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response
