"""Automation pages for admins: the rules, the editor with its dry run, a rule's versions and
its run log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from cs_platform.auth.decorators import roles_required
from cs_platform.automation import definition as rules
from cs_platform.automation.engine import dry_run
from cs_platform.automation.forms import RuleForm, form_data
from cs_platform.automation.models import Rule, RuleRun, RuleVersion
from cs_platform.automation.services import Confirmation, save_rule, set_enabled
from cs_platform.extensions import db
from cs_platform.forms import ConfirmForm, choices, first_error
from cs_platform.models import Account, utcnow
from cs_platform.paging import newest_first
from cs_platform.tasks.models import Playbook

bp = Blueprint("automation", __name__, url_prefix="/automation")
RUN_LOG_PAGE = 100
DRY_RUN_ROWS = 50


@bp.route("/rules")
@roles_required("admin", "team_lead")
def index():
    """Every rule, with how many accounts it acted on in the last 7 days."""
    week_ago = utcnow().replace(microsecond=0) - dt.timedelta(days=7)
    fired = dict(
        db.session.execute(
            select(RuleRun.rule_id, func.count())
            .where(RuleRun.ran_at >= week_ago)
            .group_by(RuleRun.rule_id)
        ).all()
    )
    all_rules = db.session.scalars(select(Rule).order_by(Rule.name)).all()
    return render_template(
        "automation/rules.html", rules=all_rules, fired=fired, labels=rules.TRIGGER_LABELS
    )


@bp.route("/rules/new", methods=["GET", "POST"])
@roles_required("admin")
def new():
    return _editor(None)


@bp.route("/rules/<int:rule_id>/edit", methods=["GET", "POST"])
@roles_required("admin")
def edit(rule_id: int):
    return _editor(db.get_or_404(Rule, rule_id))


def _editor(rule: Rule | None):
    """The editor: "Dry run" lists what it would act on today; "Save" checks, asks for a
    confirmation when it would act on too much of the book, and saves a new version."""
    data = form_data(rule.name, rule.enabled, rule.definition) if rule else None
    if rule is not None and data is None and request.method == "GET":
        flash(
            "This rule has steps the editor cannot show; save it with `flask rules save`.", "error"
        )
    form = RuleForm(data=data) if request.method == "GET" and data else RuleForm()
    playbooks = db.session.scalars(select(Playbook.name).order_by(Playbook.name))
    form.task_playbook.choices = choices([("", "(none)"), *((name, name) for name in playbooks)])
    context: dict[str, Any] = {
        "form": form,
        "rule": rule,
        "errors": {},
        "preview": None,
        "confirmation": None,
    }
    if request.method == "POST":
        if not form.validate():
            flash(first_error(form), "error")
            return render_template("automation/edit.html", **context), 400
        status = _submitted(form, rule, context)
        if status is None:
            return redirect(url_for("automation.show", rule_id=context["saved"].id))
        return render_template("automation/edit.html", **context), status
    return render_template("automation/edit.html", **context)


def _submitted(form: RuleForm, rule: Rule | None, context: dict) -> int | None:
    """Dry-run or save the form; None once saved (context["saved"]), else the page's status."""
    raw = form.definition()
    try:
        if request.form.get("do") == "dry_run":
            checked = rules.check(raw)
            context["preview"] = dry_run(checked, rule.id if rule else None, DRY_RUN_ROWS)
            return 200
        saved = save_rule(
            rule,
            form.name.data or "",
            raw,
            current_user,
            enabled=form.enabled.data,
            confirmed=form.confirm.data,
        )
    except rules.DefinitionError as error:
        context["errors"] = error.messages
        flash(
            "The rule cannot be saved: "
            + "; ".join(f"{path}: {why}" for path, why in error.messages.items()),
            "error",
        )
        return 400
    except ValueError as error:  # a trait filter naming no trait
        flash(f"The rule cannot be saved: {error}", "error")
        return 400
    if isinstance(saved, Confirmation):
        context["confirmation"] = saved
        return 409
    db.session.commit()
    flash(f"Saved “{saved.name}” (version {saved.version}).", "success")
    context["saved"] = saved
    return None


@bp.route("/rules/<int:rule_id>")
@roles_required("admin", "team_lead")
def show(rule_id: int):
    """The rule's definition, its versions and its run log, newest first."""
    rule = db.get_or_404(Rule, rule_id)
    versions = db.session.scalars(
        select(RuleVersion)
        .where(RuleVersion.rule_id == rule_id)
        .order_by(RuleVersion.version.desc())
    ).all()
    before = request.args.get("before", type=int)
    query = select(RuleRun).where(RuleRun.rule_id == rule_id)
    runs, older = newest_first(query, RuleRun.id, before, RUN_LOG_PAGE)
    names = dict(
        db.session.execute(
            select(Account.id, Account.name).where(Account.id.in_({run.account_id for run in runs}))
        ).all()
    )
    return render_template(
        "automation/rule.html",
        rule=rule,
        versions=versions,
        runs=runs,
        older=older,
        names=names,
        labels=rules.TRIGGER_LABELS,
        words=rules.describe(rule.definition),
        toggle_form=ConfirmForm(),
    )


@bp.route("/rules/<int:rule_id>/toggle", methods=["POST"])
@roles_required("admin")
def toggle(rule_id: int):
    rule = db.get_or_404(Rule, rule_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    set_enabled(rule, not rule.enabled, current_user)
    db.session.commit()
    flash(f"“{rule.name}” is {'on' if rule.enabled else 'off'}.", "success")
    return redirect(url_for("automation.show", rule_id=rule.id))
