"""Task pages and actions: my tasks (filtered, paged), bulk changes, snooze, complete, assign,
manual tasks, playbooks."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from cs_platform import clock
from cs_platform.accounts.queries import owners
from cs_platform.accounts.routes import render_account
from cs_platform.accounts.services import editable_account_or_abort
from cs_platform.audit import record_edit
from cs_platform.auth.decorators import roles_required
from cs_platform.auth.routes import safe_next_url
from cs_platform.extensions import db
from cs_platform.forms import choices, first_error
from cs_platform.models import TASK_KINDS, Task, User
from cs_platform.tasks import services
from cs_platform.tasks.forms import (
    ApplyPlaybookForm,
    AssignForm,
    BulkTaskForm,
    ClaimForm,
    CompleteForm,
    NewTaskForm,
    PlaybookForm,
    SnoozeForm,
    TaskActionForm,
)
from cs_platform.tasks.models import Playbook, TaskStep
from scoring.models import BANDS

bp = Blueprint("tasks", __name__)
CLAIM_REFUSED = (
    "You can claim a task that is unassigned or your teammate's, on an account of your team."
)


def editable_task_or_abort(task_id: int) -> Task:
    task = db.get_or_404(Task, task_id)
    if not services.can_edit_task(current_user, task):
        abort(403, "Only the account's owner, the task's assignee or an admin can change it.")
    return task


def go_back(form: TaskActionForm, task: Task | None = None):
    default = url_for("accounts.detail", account_id=task.account_id) + "#tasks" if task else None
    return redirect(safe_next_url(form.next.data or default))


def refused(form: TaskActionForm, what: str, task: Task):
    """A readable refusal: the task's account page, status 400, with the first error on top."""
    flash(f"{what}: {first_error(form)}", "error")
    return render_account(task.account, status=400)


@bp.route("/tasks")
@login_required
def my_tasks():
    """Open and snoozed tasks, mine or the team's: filtered, sorted and paged by the query string
    (a shareable URL)."""
    today = clock.today()
    filters = services.TaskFilters.from_args(request.args)
    page = services.task_page(filters, current_user, today)
    return render_template(
        "tasks/list.html",
        page=page,
        filters=filters,
        kinds=TASK_KINDS,
        bands=BANDS,
        steps=services.steps_by_task([task.id for task in page.tasks]),
        playbooks=services.playbooks(),
        assignees=owners(),
        snooze_form=SnoozeForm(formdata=None),
        complete_form=CompleteForm(formdata=None),
        bulk_form=BulkTaskForm(formdata=None),
        back=request.full_path,
        today=today,
        can_edit=lambda task: services.can_edit_task(current_user, task),
        claimable=services.Claimer.of(current_user).may_claim,
    )


@bp.route("/tasks/bulk", methods=["POST"])
@roles_required("admin", "team_lead", "csm")
def bulk():
    """Assign, snooze or complete the ticked tasks at once: each through its single action (so
    checked and logged alike), all in one transaction; the flash says what was skipped."""
    form = BulkTaskForm()
    form.owner.choices = owner_choices()
    back = redirect(safe_next_url(form.next.data or url_for("tasks.my_tasks")))
    if not form.validate_on_submit():
        flash(f"No task was changed: {first_error(form)}", "error")
        return back
    change, verb, detail = bulk_action(form)
    result = services.bulk_change(current_user, form.task_ids.data, change)
    db.session.commit()
    message = f"{verb} {tasks_count(result.changed)} {detail}{result.skipped_note()}."
    flash(message, "info" if result.changed else "error")
    return back


def bulk_action(form: BulkTaskForm) -> tuple[Callable[[Task], None], str, str]:
    """The single-task service the bulk form asked for, bound to the form's values, with the
    verb and detail of the flash message ("Snoozed" 3 tasks "until 12 Dec 2025")."""
    if form.action.data == "assign":
        owner = db.session.get(User, int(form.owner.data)) if form.owner.data else None
        return (
            lambda task: services.assign(task, current_user, owner, task.due_date, task.severity),
            "Assigned",
            f"to {owner.name if owner else 'nobody'}",
        )
    if form.action.data == "snooze":
        until, reason = form.until.data, form.reason.data.strip()
        return (
            lambda task: services.snooze(task, current_user, until, reason),
            "Snoozed",
            f"until {until:%d %b %Y}",
        )
    outcome = form.outcome.data
    return (
        lambda task: services.complete(task, current_user, outcome),
        "Closed",
        f"as {services.OUTCOME_LABELS[outcome].lower()}",
    )


def tasks_count(count: int) -> str:
    return f"{count} task" if count == 1 else f"{count} tasks"


def owner_choices() -> list:
    """Assignable users for an owner select, "Nobody" first."""
    return choices([("", "Nobody")] + [(str(u.id), u.name) for u in owners()])


@bp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@roles_required("admin", "team_lead", "csm")
def claim(task_id: int):
    """Take an open task over with one click; of two claims at once the first wins and the
    second is told who has it."""
    task = db.get_or_404(Task, task_id)
    form = ClaimForm()
    if not form.validate_on_submit():
        flash("The task was not claimed: the form expired; please try again.", "error")
        return go_back(form, task)
    seen = form.seen_owner_id()
    if task.owner_id != seen or task.status == "done":
        return claim_lost(form, task)
    if not services.Claimer.of(current_user).may_claim(task):
        abort(403, CLAIM_REFUSED)
    if not services.claim(task, current_user, seen):
        return claim_lost(form, task)
    db.session.commit()
    flash(f"You claimed “{task.title}”: it is yours now.", "info")
    return go_back(form, task)


def claim_lost(form: ClaimForm, task: Task):
    """Someone else took the task first (or it was closed): say who has it now."""
    db.session.rollback()
    db.session.refresh(task)
    holder = task.owner.name if task.owner else "nobody"
    state = "is already done" if task.status == "done" else f"is now {holder}'s"
    flash(f"The task was not claimed: someone was quicker, it {state}.", "error")
    return go_back(form, task)


@bp.route("/tasks/<int:task_id>/snooze", methods=["POST"])
@roles_required("admin", "team_lead", "csm")
def snooze(task_id: int):
    """Snooze a task until a date, with a reason."""
    task = editable_task_or_abort(task_id)
    form = SnoozeForm()
    if not form.validate_on_submit():
        return refused(form, "The task was not snoozed", task)
    try:
        services.snooze(task, current_user, form.until.data, form.reason.data)
    except services.TaskError as error:
        flash(str(error), "error")
        return go_back(form, task)
    db.session.commit()
    flash(f"Snoozed until {form.until.data}.", "info")
    return go_back(form, task)


@bp.route("/tasks/<int:task_id>/complete", methods=["POST"])
@roles_required("admin", "team_lead", "csm")
def complete(task_id: int):
    """Close a task with its outcome."""
    task = editable_task_or_abort(task_id)
    form = CompleteForm()
    if not form.validate_on_submit():
        return refused(form, "The task was not closed", task)
    try:
        services.complete(task, current_user, form.outcome.data, form.note.data or "")
    except services.TaskError as error:
        flash(str(error), "error")
        return go_back(form, task)
    db.session.commit()
    flash(f"Task closed: {services.OUTCOME_LABELS[form.outcome.data].lower()}.", "info")
    return go_back(form, task)


@bp.route("/tasks/<int:task_id>/assign", methods=["POST"])
@roles_required("admin", "team_lead", "csm")
def assign(task_id: int):
    """Change a task's owner, due date and priority."""
    task = editable_task_or_abort(task_id)
    form = AssignForm()
    form.owner.choices = owner_choices()
    if not form.validate_on_submit():
        return refused(form, "The task was not changed", task)
    owner = db.session.get(User, int(form.owner.data)) if form.owner.data else None
    services.assign(task, current_user, owner, form.due.data, form.severity.data)
    db.session.commit()
    flash("Task updated.", "info")
    return go_back(form, task)


@bp.route("/accounts/<int:account_id>/tasks", methods=["POST"])
@roles_required("admin", "team_lead", "csm")
def create(account_id: int):
    """Add a manual task to an account."""
    account = editable_account_or_abort(current_user, account_id)
    form = NewTaskForm()
    if not form.validate_on_submit():
        flash(f"The task was not added: {first_error(form)}", "error")
        return render_account(account, status=400, task_form=form)
    services.create_manual(
        account,
        current_user,
        title=form.title.data,
        due=form.due.data,
        severity=form.severity.data,
        details=form.details.data or "",
    )
    db.session.commit()
    flash("Task added.", "info")
    return redirect(url_for("accounts.detail", account_id=account.id) + "#tasks")


@bp.route("/tasks/<int:task_id>/playbook", methods=["POST"])
@roles_required("admin", "team_lead", "csm")
def apply_playbook(task_id: int):
    """Add a playbook's checklist to a task."""
    task = editable_task_or_abort(task_id)
    form = ApplyPlaybookForm()
    form.playbook.choices = choices((p.id, p.name) for p in services.playbooks())
    if not form.validate_on_submit():
        return refused(form, "The playbook was not applied", task)
    playbook = db.session.get(Playbook, form.playbook.data)
    if playbook is None:  # deleted since the form was shown
        abort(404)
    try:
        services.apply_playbook(task, playbook)
    except services.TaskError as error:
        flash(str(error), "error")
        return go_back(form, task)
    db.session.commit()
    flash(f"Playbook “{playbook.name}” added to the task.", "info")
    return go_back(form, task)


@bp.route("/tasks/<int:task_id>/steps/<int:step_id>", methods=["POST"])
@roles_required("admin", "team_lead", "csm")
def toggle_step(task_id: int, step_id: int):
    """Tick or untick one checklist step."""
    task = editable_task_or_abort(task_id)
    step = db.get_or_404(TaskStep, step_id)
    if step.task_id != task.id:
        abort(404)
    form = TaskActionForm()
    if not form.validate_on_submit():
        return refused(form, "The step was not changed", task)
    services.toggle_step(step, current_user)
    db.session.commit()
    return go_back(form, task)


@bp.route("/playbooks", methods=["GET", "POST"])
@login_required
def playbooks():
    """The playbooks; admins add new ones."""
    form = PlaybookForm()
    status = 200
    if request.method == "POST":
        if current_user.role != "admin":
            abort(403, "Only admins can add playbooks.")
        if form.validate_on_submit():
            playbook = Playbook(
                name=form.name.data.strip(),
                description=form.description.data or "",
                steps=form.step_list(),
                task_kind=form.task_kind.data or None,
            )
            db.session.add(playbook)
            record_edit("playbook.created", playbook.name, playbook)
            try:
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
                form.name.errors = [*form.name.errors, "A playbook with this name exists."]
            else:
                flash(f"Playbook “{playbook.name}” added.", "info")
                return redirect(url_for("tasks.playbooks"))
        status = 400
    page = render_template("tasks/playbooks.html", playbooks=services.playbooks(), form=form)
    return page, status
