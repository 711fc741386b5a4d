"""The alerts settings page: where each kind of alert goes, Slack and Teams webhook URLs (shown
masked once saved), quiet hours and time zone, and a test alert per channel. Every signed-in
user sets their own."""

from __future__ import annotations

import zoneinfo
from functools import cache

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from cs_platform.alerts import services
from cs_platform.alerts.forms import AlertSettingsForm, channels_field
from cs_platform.alerts.models import (
    ALERT_KINDS,
    CHANNEL_LABELS,
    CHANNELS,
    DEFAULT_CHANNELS,
    AlertPreference,
)
from cs_platform.alerts.notify import enqueue_test_alert
from cs_platform.alerts.services import AlertSettingsError, PreferenceChanges
from cs_platform.extensions import db
from cs_platform.forms import ConfirmForm, first_error
from cs_platform.models import User

bp = Blueprint("alerts", __name__, url_prefix="/settings/alerts")


@cache
def time_zone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def filled_form(user: User, preference: AlertPreference | None) -> AlertSettingsForm:
    """The form showing the saved settings (URLs stay out of it: they are secrets)."""
    form = AlertSettingsForm()
    channels = preference.channels if preference else DEFAULT_CHANNELS
    for kind in ALERT_KINDS:
        form[channels_field(kind)].data = list(channels.get(kind, DEFAULT_CHANNELS[kind]))
    if preference is not None:
        form.quiet_start.data, form.quiet_end.data = preference.quiet_start, preference.quiet_end
        form.paused.data = preference.paused
    form.timezone.data = user.timezone or ""
    return form


def render_settings(form: AlertSettingsForm, status: int = 200):
    preference = services.preference_of(current_user.id)
    masked = {
        channel: services.mask_url(url)
        for channel in services.WEBHOOK_CHANNELS
        if (url := services.webhook_url(preference, channel)) is not None
    }
    page = render_template(
        "alerts/settings.html",
        form=form,
        masked=masked,
        kinds=[(kind, form[channels_field(kind)]) for kind in ALERT_KINDS],
        channel_labels=CHANNEL_LABELS,
        channels=CHANNELS,
        zones=time_zone_names(),
        confirm=ConfirmForm(),
    )
    return page, status


@bp.route("/", methods=["GET"])
@login_required
def settings():
    """The signed-in user's alert settings."""
    user = current_user._get_current_object()
    return render_settings(filled_form(user, services.preference_of(user.id)))


@bp.route("/", methods=["POST"])
@login_required
def save():
    """Save the signed-in user's alert settings; 422 naming the field on bad input."""
    form = AlertSettingsForm()
    if not form.validate_on_submit():
        csrf = getattr(form, "csrf_token", None)  # absent when CSRF is off (tests)
        if csrf is not None and csrf.errors:
            abort(400, description="The form expired; go back and try again.")
        flash(first_error(form), "error")
        return render_settings(form, 422)
    try:
        services.save_preferences(current_user._get_current_object(), changes_of(form))
    except AlertSettingsError as error:
        db.session.rollback()
        field = form[error.field]
        field.errors = [*field.errors, str(error)]
        flash(f"{field.label.text}: {error}", "error")
        return render_settings(form, 422)
    db.session.commit()
    flash("Your alert settings are saved.", "info")
    return redirect(url_for("alerts.settings"))


def changes_of(form: AlertSettingsForm) -> PreferenceChanges:
    return PreferenceChanges(
        channels=form.channels(),
        quiet_start=form.quiet_start.data,
        quiet_end=form.quiet_end.data,
        timezone=form.timezone.data or "",
        paused=form.paused.data,
        slack_url=(form.slack_url.data or "").strip() or None,
        teams_url=(form.teams_url.data or "").strip() or None,
        remove_slack=form.remove_slack.data,
        remove_teams=form.remove_teams.data,
    )


@bp.route("/test/<channel>", methods=["POST"])
@login_required
def send_test(channel: str):
    """Queue a test alert to the signed-in user on `channel`."""
    if channel not in CHANNELS:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; go back and try again.")
    went_to = enqueue_test_alert(current_user._get_current_object(), channel)
    db.session.commit()
    if went_to == channel:
        flash(f"A test alert is on its way to {CHANNEL_LABELS[channel]}.", "info")
    else:
        flash(
            f"{CHANNEL_LABELS[channel]} is not set up: the test alert goes to your email.", "info"
        )
    return redirect(url_for("alerts.settings"))
