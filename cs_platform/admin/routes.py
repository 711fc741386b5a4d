"""Admin pages: user management (list users, add one, change a role, deactivate or
reactivate), the scheduled jobs and the read-only audit log."""

from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from cs_platform.admin.forms import ROLE_LABELS, ChangeUserForm, NewUserForm
from cs_platform.admin.jobs import job_overview
from cs_platform.audit import record_audit, record_edit
from cs_platform.auth.decorators import roles_required
from cs_platform.auth.passwords import force_reset
from cs_platform.auth.services import AuthError, create_user
from cs_platform.extensions import db
from cs_platform.forms import choices, first_error
from cs_platform.models import AuditEntry, User
from cs_platform.paging import newest_first

bp = Blueprint("admin", __name__, url_prefix="/admin")
AUDIT_PAGE = 50


def render_users(form: NewUserForm, status: int = 200):
    users = db.session.scalars(select(User).order_by(User.active.desc(), User.name)).all()
    page = render_template(
        "admin/users.html",
        users=users,
        form=form,
        change_form=ChangeUserForm(formdata=None),
        roles=ROLE_LABELS,
        leads=[user for user in users if user.role == "team_lead"],
    )
    return page, status


def team_lead_choices() -> list:
    """ "No team lead" and every team lead, for the change form."""
    leads = db.session.scalars(select(User).where(User.role == "team_lead").order_by(User.name))
    return choices([("", "No team lead")] + [(str(lead.id), lead.name) for lead in leads])


@bp.route("/users")
@roles_required("admin")
def users():
    """Every user with their role and status."""
    return render_users(NewUserForm(formdata=None))


@bp.route("/users", methods=["POST"])
@roles_required("admin")
def create():
    """Add a user with an initial password."""
    form = NewUserForm()
    if not form.validate_on_submit():
        return render_users(form, status=400)
    try:
        user = create_user(form.email.data, form.name.data, form.role.data, form.password.data)
    except AuthError as error:
        form.email.errors = [*form.email.errors, str(error)]
        return render_users(form, status=400)
    record_audit("user.created", user.email, {"role": user.role, "via": "admin page"})
    db.session.commit()
    flash(f"{user.name} can now sign in as {user.role}.", "info")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>", methods=["POST"])
@roles_required("admin")
def change(user_id: int):
    """Change a user's role, status, team lead and time zone (audited with what changed);
    admins cannot lock themselves out."""
    user = db.get_or_404(User, user_id)
    form = ChangeUserForm()
    form.team_lead.choices = team_lead_choices()
    if not form.validate_on_submit():
        flash(f"{user.name} was not changed: {first_error(form)}", "error")
        return render_users(NewUserForm(formdata=None), status=400)
    active = form.status.data == "active"
    if user.id == current_user.id and (form.role.data != "admin" or not active):
        abort(400, "You cannot remove your own admin rights or deactivate yourself.")
    lead_id = int(form.team_lead.data) if form.team_lead.data else None
    if lead_id == user.id:
        flash(f"{user.name} was not changed: Team lead: nobody leads their own team.", "error")
        return render_users(NewUserForm(formdata=None), status=400)
    timezone = (form.timezone.data or "").strip() or None
    user.role, user.active = form.role.data, active
    user.team_lead_id, user.timezone = lead_id, timezone
    record_edit("user.changed", user.email, user)
    db.session.commit()
    flash(
        f"{user.name}: {ROLE_LABELS[user.role]}, {'active' if active else 'deactivated'}.", "info"
    )
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/reset-password")
@roles_required("admin")
def force_password_reset(user_id: int):
    """End the user's sessions, void their password and email them a link to choose one."""
    user = db.get_or_404(User, user_id)
    if not FlaskForm().validate_on_submit():  # the CSRF token is all it carries
        abort(400, "The form expired: reload the page and try again.")
    force_reset(user, current_user._get_current_object())
    record_audit("password.reset_forced", user.email)
    db.session.commit()
    flash(f"{user.name} was signed out everywhere and emailed a link to choose a password.", "info")
    return redirect(url_for("admin.users"))


@bp.route("/jobs")
@roles_required("admin")
def jobs():
    """Each scheduled job's latest run, its outcome and its next run; whether a scheduler runs."""
    state, rows = job_overview()
    return render_template("admin/jobs.html", state=state, rows=rows)


@bp.route("/audit")
@roles_required("admin")
def audit():
    """The audit log, newest first, AUDIT_PAGE entries a page; read-only, nobody edits it."""
    query = select(AuditEntry).options(selectinload(AuditEntry.actor))
    before = request.args.get("before", type=int)
    entries, older = newest_first(query, AuditEntry.id, before, AUDIT_PAGE)
    return render_template(
        "admin/audit.html", entries=entries, older=older, detail_text=detail_text
    )


def detail_text(value: object) -> str:
    """An audit detail as plain text (JSON for lists and mappings); the template escapes it."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
