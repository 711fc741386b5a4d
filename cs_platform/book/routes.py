"""Working the book: saved views of the risk list, bulk actions on its ticked accounts, and
account lists."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from cs_platform import clock
from cs_platform.accounts import saved_views
from cs_platform.accounts.models import SavedView
from cs_platform.auth.decorators import roles_required
from cs_platform.auth.routes import safe_next_url
from cs_platform.book import bulk
from cs_platform.book.forms import (
    AccountSelectionForm,
    BulkAccountsForm,
    RenameViewForm,
    SaveViewForm,
    ShareViewForm,
)
from cs_platform.extensions import db
from cs_platform.forms import ConfirmForm, first_error
from cs_platform.models import AccountList, User
from cs_platform.paging import page_count
from cs_platform.tasks.models import Playbook

bp = Blueprint("book", __name__)
EDITORS = ("admin", "team_lead", "csm")
LIST_PAGE_SIZE = 100


def view_or_404(view_id: int, manage: bool = False) -> SavedView:
    """The saved view; 404 when unknown or not visible to the user, 403 when they may only
    open it and `manage` asks for more."""
    view = db.get_or_404(SavedView, view_id)
    if not saved_views.may_open(current_user, view):
        abort(404)
    if manage and not saved_views.may_manage(current_user, view):
        abort(403, "Only the view's owner or an admin can change it.")
    return view


@bp.route("/views")
@login_required
def views():
    """The views the user sees (their own, then shared ones) with each one's count now."""
    visible = saved_views.visible_views(current_user)
    counts = saved_views.view_counts(visible, current_user.id, clock.today())
    return render_template(
        "accounts/views.html",
        views=visible,
        counts=counts,
        may_manage=lambda view: saved_views.may_manage(current_user, view),
        rename_form=RenameViewForm(formdata=None),
        share_form=ShareViewForm(formdata=None),
    )


@bp.route("/views", methods=["POST"])
@login_required
def save():
    """Save the risk list's filters under a name; a name in use asks to confirm replacing."""
    form = SaveViewForm()
    query = saved_views.normalised_query(dict(parse_qsl(form.query.data or "")))
    back = url_for("accounts.index") + (f"?{query}" if query else "")
    if not form.validate_on_submit():
        flash(f"The view was not saved: {first_error(form)}", "error")
        return redirect(back)
    try:
        view = saved_views.save_view(current_user, form.name.data, query, form.replace.data)
    except saved_views.ViewExistsError as error:
        db.session.rollback()
        page = render_template("accounts/replace_view.html", form=form, query=query, error=error)
        return page, 409
    db.session.commit()
    flash(f"View “{view.name}” saved.", "info")
    return redirect(back)


@bp.route("/views/<int:view_id>")
@login_required
def open_view(view_id: int):
    """The risk list with the view's filters; a filter that no longer applies is named and
    left out."""
    view = view_or_404(view_id)
    problems = saved_views.filter_problems(view.query_string)
    for key, why in problems.items():
        flash(f"The view “{view.name}” opened without its filter {key}: {why}.", "error")
    query = urlencode(saved_views.usable_args(view.query_string))
    return redirect(url_for("accounts.index") + (f"?{query}" if query else ""))


@bp.route("/views/<int:view_id>/rename", methods=["POST"])
@login_required
def rename(view_id: int):
    view = view_or_404(view_id, manage=True)
    form = RenameViewForm()
    if not form.validate_on_submit():
        flash(f"The view was not renamed: {first_error(form)}", "error")
        return redirect(url_for("book.views"))
    try:
        saved_views.rename_view(view, form.name.data)
    except saved_views.ViewExistsError as error:
        db.session.rollback()
        flash(f"The view was not renamed: {error}", "error")
        return redirect(url_for("book.views"))
    db.session.commit()
    flash(f"View renamed to “{view.name}”.", "info")
    return redirect(url_for("book.views"))


@bp.route("/views/<int:view_id>/share", methods=["POST"])
@login_required
def share(view_id: int):
    """Share the view with everyone, or stop sharing it."""
    view = view_or_404(view_id, manage=True)
    form = ShareViewForm()
    if not form.validate_on_submit():
        abort(400, "The form expired: reload the page and try again.")
    saved_views.share_view(view, form.shared.data, current_user)
    db.session.commit()
    flash(f"“{view.name}” is {'shared with everyone' if view.shared else 'yours only'}.", "info")
    return redirect(url_for("book.views"))


@bp.route("/views/<int:view_id>/delete", methods=["POST"])
@login_required
def delete(view_id: int):
    view = view_or_404(view_id, manage=True)
    if not ConfirmForm().validate_on_submit():
        abort(400, "The form expired: reload the page and try again.")
    name = view.name
    saved_views.delete_view(view, current_user)
    db.session.commit()
    flash(f"View “{name}” deleted.", "info")
    return redirect(url_for("book.views"))


@bp.route("/accounts/bulk", methods=["POST"])
@roles_required(*EDITORS)
def bulk_accounts():
    """One action on the accounts ticked on the risk list, set-wise; the flash says how many
    were changed and why the others were skipped."""
    form = BulkAccountsForm()
    back = redirect(safe_next_url(form.next.data or url_for("accounts.index")))
    if not form.validate_on_submit():
        flash(f"No account was changed: {first_error(form)}", "error")
        return back
    try:
        message = run_bulk_action(form)
    except bulk.BulkError as error:
        db.session.rollback()
        flash(f"No account was changed: {error}", "error")
        return back
    db.session.commit()
    flash(message, "info")
    return back


def run_bulk_action(form: BulkAccountsForm) -> str:
    """Run the form's action; the flash message of its outcome."""
    ids, action = form.account_ids.data, form.action.data
    if action == "assign":
        owner = db.session.get(User, int(form.owner.data)) or abort(404)
        outcome = bulk.assign_owner(current_user, ids, owner)
        done = f"Assigned {bulk.accounts_count(outcome.changed)} to {owner.name}"
    elif action == "playbook":
        playbook = db.session.get(Playbook, int(form.playbook.data)) or abort(404)
        outcome = bulk.apply_playbook(current_user, ids, playbook)
        done = f"Applied “{playbook.name}” on {bulk.accounts_count(outcome.changed)}"
    elif action == "snooze":
        until, reason = form.until.data, form.reason.data.strip()
        outcome = bulk.snooze_risk_tasks(current_user, ids, until, reason)
        done = f"Snoozed the risk tasks of {bulk.accounts_count(outcome.changed)} until {until}"
    else:
        list_id = int(form.list_id.data) if (form.list_id.data or "").isdecimal() else None
        account_list = bulk.list_for(list_id, form.new_list.data or "", current_user)
        outcome = bulk.add_to_list(current_user, ids, account_list)
        done = f"Added {bulk.accounts_count(outcome.changed)} to “{account_list.name}”"
    return f"{done}{outcome.skipped_note()}."


@bp.route("/lists")
@login_required
def lists():
    """Every account list with how many accounts are on it."""
    return render_template("accounts/lists.html", lists=bulk.list_summaries())


@bp.route("/lists/<int:list_id>")
@login_required
def list_detail(list_id: int):
    """One list's accounts, LIST_PAGE_SIZE a page, with who put each there."""
    account_list = db.get_or_404(AccountList, list_id)
    page = request.args.get("page", 1, type=int) or 1
    page = max(page, 1)
    members, total = bulk.list_members(list_id, LIST_PAGE_SIZE, (page - 1) * LIST_PAGE_SIZE)
    return render_template(
        "accounts/list_detail.html",
        account_list=account_list,
        members=members,
        total=total,
        page=page,
        pages=page_count(total, LIST_PAGE_SIZE),
        form=AccountSelectionForm(formdata=None),
    )


@bp.route("/lists/<int:list_id>/remove", methods=["POST"])
@roles_required(*EDITORS)
def remove_from_list(list_id: int):
    """Take the ticked accounts off the list (those the user may edit)."""
    account_list = db.get_or_404(AccountList, list_id)
    form = AccountSelectionForm()
    back = redirect(url_for("book.list_detail", list_id=list_id))
    if not form.validate_on_submit():
        flash(f"No account was removed: {first_error(form)}", "error")
        return back
    outcome = bulk.remove_from_list(current_user, form.account_ids.data, account_list)
    db.session.commit()
    removed = bulk.accounts_count(outcome.changed)
    flash(f"Removed {removed} from “{account_list.name}”{outcome.skipped_note()}.", "info")
    return back
