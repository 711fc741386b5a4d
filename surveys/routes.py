"""Survey admin and results pages under /surveys: list, create and edit surveys and campaigns,
preview the email, send a test to oneself, pause and resume, and see the results."""

from __future__ import annotations

import datetime as dt
from zoneinfo import available_timezones

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select

from cs_platform.auth.decorators import roles_required
from cs_platform.extensions import db
from cs_platform.mail import mail_domain
from surveys import services
from surveys.emails import build_email
from surveys.forms import CampaignForm, SurveyForm
from surveys.models import Campaign, Invitation, Survey, SurveySkip
from surveys.planning import CampaignError
from surveys.results import survey_results
from surveys.texts import LOCALES
from surveys.tokens import preview_token

bp = Blueprint("surveys", __name__, url_prefix="/surveys", template_folder="templates")
ALL_ROLES = ("admin", "team_lead", "csm", "viewer")
TIMEZONES = sorted(available_timezones())
NOT_RECURRING = "The schedule applies to recurring campaigns: set Trigger to recurring."


def get_or_404(model, object_id: int):
    found = db.session.get(model, object_id)
    if found is None:
        abort(404)
    return found


@bp.get("/")
@roles_required(*ALL_ROLES)
def index():
    """Surveys and campaigns with their invitation counts, and skips counted by reason so a
    CSM sees why contacts were not asked (not sampled, surveyed recently, ...)."""
    surveys = db.session.scalars(select(Survey).order_by(Survey.name)).all()
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.name)).all()
    invited = dict(
        db.session.execute(
            select(Invitation.campaign_id, func.count()).group_by(Invitation.campaign_id)
        ).all()
    )
    skipped: dict[int, dict[str, int]] = {}
    for campaign_id, reason, count in db.session.execute(
        select(SurveySkip.campaign_id, SurveySkip.reason, func.count())
        .group_by(SurveySkip.campaign_id, SurveySkip.reason)
        .order_by(SurveySkip.reason)
    ):
        skipped.setdefault(campaign_id, {})[reason] = count
    return render_template(
        "surveys/admin/index.html",
        surveys=surveys,
        campaigns=campaigns,
        invited=invited,
        skipped=skipped,
    )


@bp.get("/<int:survey_id>")
@roles_required(*ALL_ROLES)
def results(survey_id: int):
    """NPS/CSAT/CES with its interval, monthly trend, breakdowns and comments."""
    survey = get_or_404(Survey, survey_id)
    return render_template("surveys/admin/results.html", results=survey_results(survey))


@bp.route("/new", methods=["GET", "POST"], defaults={"survey_id": None})
@bp.route("/<int:survey_id>/edit", methods=["GET", "POST"])
@roles_required("admin")
def edit_survey(survey_id: int | None):
    """Create or edit a survey: kind, texts per language, follow-ups per band, brand."""
    survey = get_or_404(Survey, survey_id) if survey_id else Survey(texts={})
    form = SurveyForm(obj=survey)
    if request.method == "GET":
        fill_survey_texts(form, survey)
    if form.validate_on_submit():
        services.save_survey(survey, form.data, current_user)
        flash(f"Saved survey {survey.name}.", "info")
        return redirect(url_for(".index"))
    return render_template("surveys/admin/survey_form.html", form=form, survey=survey)


def fill_survey_texts(form: SurveyForm, survey: Survey) -> None:
    texts = survey.texts or {}
    for locale in LOCALES:
        getattr(form, f"question_{locale}").data = texts.get(locale, {}).get("question", "")
    follow_up = texts.get(survey.default_locale or "en", {}).get("follow_up", {})
    for band in services.FOLLOW_UP_BANDS:
        getattr(form, f"follow_up_{band}").data = follow_up.get(band, "")


@bp.route("/campaigns/new", methods=["GET", "POST"], defaults={"campaign_id": None})
@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@roles_required("admin")
def edit_campaign(campaign_id: int | None):
    """Create or edit a campaign; a bad cron rule or an empty audience is refused here."""
    campaign = get_or_404(Campaign, campaign_id) if campaign_id else Campaign(audience={})
    # A new campaign's columns hold no defaults before it is flushed: the form's apply instead.
    form = CampaignForm(
        obj=campaign if campaign_id else None,
        data=None if request.method == "POST" else campaign.audience,
    )
    form.survey_id.choices = [
        (survey.id, survey.name)
        for survey in db.session.scalars(select(Survey).order_by(Survey.name))
    ]
    if request.method != "POST":
        form.show_schedule(campaign.cron)
    if form.validate_on_submit():
        cron = form.schedule_cron() if form.trigger.data == "recurring" else None
        data = form.data | {"cron": cron}
        previewing = request.form.get("action") == "preview_schedule"  # show the sends only
        try:
            if previewing:
                sends = services.preview_campaign_sends(campaign, data, current_user)
            else:
                services.save_campaign(campaign, data, current_user)
        except CampaignError as error:
            flash(str(error), "error")
            return render_campaign_form(form, campaign, None, 400)
        if previewing:
            if form.trigger.data != "recurring":
                flash(NOT_RECURRING, "info")
            return render_campaign_form(form, campaign, sends)
        flash(f"Saved campaign {campaign.name}.", "info")
        return redirect(url_for(".index"))
    status = 400 if request.method == "POST" else 200  # a form with errors is not saved
    return render_campaign_form(form, campaign, services.upcoming_sends(campaign), status)


def render_campaign_form(form, campaign: Campaign, sends: list | None, status: int = 200):
    page = render_template(
        "surveys/admin/campaign_form.html", form=form, campaign=campaign, next_sends=sends,
        timezones=TIMEZONES, utc=dt.UTC,
    )  # fmt: skip
    return page, status


@bp.get("/campaigns/<int:campaign_id>/preview")
@roles_required("admin", "team_lead", "csm")
def preview(campaign_id: int):
    """The campaign's email as a contact in the chosen language would get it."""
    campaign = get_or_404(Campaign, campaign_id)
    locale = request.args.get("locale", campaign.survey.default_locale)
    if locale not in LOCALES:
        abort(400)
    email = preview_email(campaign, locale).message()
    if request.args.get("part") == "html":
        return Response(email.get_body(("html",)).get_content(), mimetype="text/html")
    return render_template(
        "surveys/admin/preview.html",
        campaign=campaign,
        email=email,
        text=email.get_body(("plain",)).get_content(),
        locale=locale,
        locales=LOCALES,
    )


def preview_email(campaign: Campaign, locale: str):
    """The campaign's email as the admin's preview shows it; its links open the preview pages."""
    recipient = (current_user.name, current_user.email)
    token = preview_token(current_app.config["SECRET_KEY"], campaign.id)
    return build_email(
        campaign.survey, campaign, recipient, locale, token,
        message_id=f"<survey-preview-{campaign.id}@{mail_domain()}>", test=True,
    )  # fmt: skip


@bp.post("/campaigns/<int:campaign_id>/test")
@roles_required("admin", "team_lead", "csm")
def send_test(campaign_id: int):
    """Queue a test email of the campaign to the signed-in user."""
    campaign = get_or_404(Campaign, campaign_id)
    services.send_test_email(campaign, current_user)
    flash(f"A test email is on its way to {current_user.email}.", "info")
    return redirect(url_for(".preview", campaign_id=campaign.id))


@bp.post("/campaigns/<int:campaign_id>/<any(pause, resume):action>")
@roles_required("admin")
def pause_or_resume(campaign_id: int, action: str):
    """Pause (queued mail waits, no new runs) or resume a campaign."""
    campaign = get_or_404(Campaign, campaign_id)
    services.set_campaign_paused(campaign, action == "pause", current_user)
    flash(f"Campaign {campaign.name} is {campaign.status}.", "info")
    return redirect(url_for(".index"))
