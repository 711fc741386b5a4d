"""The admin page that edits the cold-start scorecard and the band thresholds, and says which
accounts the last scoring run could not score."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from cs_platform.auth.decorators import roles_required
from cs_platform.extensions import db
from scoring.forms import ScorecardForm
from scoring.models import ScoringRun
from scoring.registry import active_version
from scoring.scorecard import ScorecardError
from scoring.services import load_scorecard, save_scorecard

bp = Blueprint("scoring", __name__, template_folder="templates", url_prefix="/admin/scoring")


@bp.route("/scorecard", methods=["GET", "POST"])
@roles_required("admin")
def scorecard():
    """Edit the scorecard; it scores accounts until a learned model is active."""
    form = ScorecardForm()
    status = 200
    if form.validate_on_submit():
        try:
            save_scorecard(form.scorecard(), current_user)
        except ScorecardError as error:
            form.form_errors.append(str(error))
        else:
            db.session.commit()
            flash("Scorecard saved; the next scoring run uses it.", "success")
            return redirect(url_for("scoring.scorecard"))
    if form.is_submitted():
        status = 400
    else:
        form.fill(load_scorecard())
    return render_template(
        "scoring/scorecard.html",
        form=form,
        health_model=active_version("health"),
        survival_model=active_version("survival"),
        last_run=last_scoring_run(),
    ), status


def last_scoring_run() -> ScoringRun | None:
    """The scoring run that finished last, if any."""
    latest = select(ScoringRun).order_by(ScoringRun.finished_at.desc(), ScoringRun.id.desc())
    return db.session.scalar(latest.limit(1))
