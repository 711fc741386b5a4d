"""The public response pages under /s/<token>: no login, the link token is the only credential.

Scanner-proof by construction: a GET never records anything. The score link opens a page with
the score preselected; the page's own script (static/survey.js) posts it, and a visible confirm
button does the same without script. Then the comment page, then thank-you.

CSRF: these forms are exempt. The unguessable token in the URL is the credential (a forged
cross-site request would need it, and whoever holds it can post directly), there is no session
to ride on, and RFC 8058 one-click unsubscribe POSTs come from mail providers without any token.
"""

from __future__ import annotations

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
from surveys.emails import score_links
from surveys.metrics import band
from surveys.models import Invitation, SurveyResponse
from surveys.responses import (
    BadScoreError,
    InvitationExpiredError,
    InvitationNotFoundError,
    find_invitation,
    parse_score,
    record_comment,
    record_score,
    unsubscribe,
)
from surveys.texts import fill, resolve_texts

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
    429: "Too many requests. Please wait a minute and try again.",
}


@bp.errorhandler(HTTPException)
def problem_page(error: HTTPException):
    """Friendly page for every error on the public pages; it reveals nothing about the account."""
    code = error.code or 500
    text = PROBLEMS.get(code, "Something went wrong. Please try again later.")
    return render_template("surveys/public/problem.html", code=code, message=text), code


def load(token: str) -> Invitation:
    try:
        return find_invitation(token)
    except InvitationNotFoundError:
        abort(404)
    except InvitationExpiredError:
        abort(410)


def page_context(invitation: Invitation) -> dict:
    """Survey, locale and texts (filled in) for the contact of `invitation`."""
    survey = invitation.campaign.survey
    locale, texts = resolve_texts(
        survey.kind, survey.texts or {}, survey.default_locale, invitation.contact.locale
    )
    values = {"product": survey.product_name, "name": invitation.contact.name.split(" ")[0]}
    follow_up = {key: fill(value, **values) for key, value in texts["follow_up"].items()}
    filled = {key: fill(value, **values) for key, value in texts.items() if key != "follow_up"}
    return {"survey": survey, "locale": locale, "texts": filled, "follow_up": follow_up}


def current_response(invitation: Invitation) -> SurveyResponse | None:
    return db.session.query(SurveyResponse).filter_by(invitation_id=invitation.id).one_or_none()


@bp.get("/s/<token>")
def scale(token: str):
    """The whole scale as buttons, for a link opened without a score."""
    return show_score_page(load(token), None)


@bp.get("/s/<token>/<raw_score>")
def score_page(token: str, raw_score: str):
    """The chosen score, preselected; recorded only by the POST this page makes."""
    invitation = load(token)
    try:
        score = parse_score(invitation.campaign.survey.kind, raw_score)
    except BadScoreError:
        abort(400)
    return show_score_page(invitation, score)


def show_score_page(invitation: Invitation, score: int | None):
    context = page_context(invitation)
    response = current_response(invitation)
    links = score_links(context["survey"].kind, "")
    page = render_template(
        "surveys/public/score.html",
        token=request.view_args["token"],
        score=score,
        links=links,
        previous=response.score if response else None,
        **context,
    )
    return no_store(page)


@bp.post("/s/<token>/answer")
def answer(token: str):
    """Record (or change) the score, then ask for a comment."""
    invitation = load(token)
    try:
        record_score(invitation, request.form.get("score", ""))
    except BadScoreError:
        db.session.rollback()
        abort(400)
    db.session.commit()
    return redirect(url_for(".comment", token=token), 303)


@bp.route("/s/<token>/comment", methods=["GET", "POST"])
def comment(token: str):
    """The follow-up question of the score's band; saving the comment leads to thank-you."""
    invitation = load(token)
    response = current_response(invitation)
    if response is None:
        return redirect(url_for(".scale", token=token), 303)
    if request.method == "POST":
        record_comment(invitation, request.form.get("comment", ""))
        db.session.commit()
        return redirect(url_for(".thanks", token=token), 303)
    context = page_context(invitation)
    question = context["follow_up"][band(response.kind, response.score)]
    return no_store(
        render_template(
            "surveys/public/comment.html",
            token=token,
            question=question,
            response=response,
            **context,
        )
    )


@bp.get("/s/<token>/thanks")
def thanks(token: str):
    """Thank-you page; links back to change the answer while the link is valid."""
    invitation = load(token)
    return no_store(
        render_template("surveys/public/thanks.html", token=token, **page_context(invitation))
    )


@bp.route("/s/<token>/unsubscribe", methods=["GET", "POST"])
def unsubscribe_page(token: str):
    """GET asks; POST (the page's button, or an RFC 8058 one-click POST) unsubscribes.

    The GET must stay a confirm page that changes nothing: mail security scanners (Safe Links,
    Proofpoint and the like) fetch every link of an email, and some follow the links of the
    pages they land on, which now carry this link too; a GET that unsubscribed would drop
    contacts who never clicked.
    """
    invitation = load(token)
    context = page_context(invitation)
    if request.method == "POST":
        unsubscribe(invitation)
        db.session.commit()
        return no_store(render_template("surveys/public/unsubscribed.html", **context))
    return no_store(render_template("surveys/public/unsubscribe.html", token=token, **context))


def no_store(body: str) -> Response:
    """Pages behind a token are private: no caching, no referrer to outside links."""
    response = Response(body, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response
