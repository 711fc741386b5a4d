"""The CSM pages for accounts: the risk list (the home page), its CSV export, one account's page."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select

from cs_platform import clock
from cs_platform.accounts import figures, queries, risk, saved_views, services, traits
from cs_platform.accounts.forms import NoteForm, OutreachForm, OverrideForm
from cs_platform.audit import record_audit
from cs_platform.auth.decorators import roles_required
from cs_platform.charts import sparkline
from cs_platform.extensions import db
from cs_platform.forms import ConfirmForm, first_error
from cs_platform.models import SEGMENT_LABELS, SEGMENTS, Account, AccountList, Task
from cs_platform.tasks import services as task_services
from cs_platform.tasks.forms import CompleteForm, NewTaskForm, SnoozeForm
from scoring.models import BANDS

bp = Blueprint("accounts", __name__)
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_HEADER = [
    "account_id", "account", "segment", "owner", "health_score", "band", "model_band",
    "trend_7d", "p_churn_90d", "p_churn_before_renewal", "arr", "arr_at_risk_90d", "renewal_date",
    "days_to_renewal", "open_tasks", "driver_1", "driver_2",
]  # fmt: skip


@bp.route("/")
@login_required
def index():
    """The risk list: by default the accounts that need action, by ARR at risk over 90 days;
    the whole book with `view=all`; filterable and sortable from the URL."""
    filters = risk.RiskFilters.from_args(request.args)
    canonical = {key: str(value) for key, value in filters.args().items()}
    if request.args.to_dict() != canonical:  # a short, shareable URL without empty fields
        return redirect(url_for("accounts.index", **canonical))
    page = risk.risk_page(filters, current_user.id)
    return render_template(
        "accounts/list.html",
        page=page,
        filters=filters,
        owners=queries.owners(),
        segments=SEGMENTS,
        bands=BANDS,
        today=clock.today(),
        sparkline=sparkline,
        saved=saved_views.visible_views(current_user),
        query=saved_views.normalised_query(request.args),
        account_lists=account_lists(),
        playbooks=task_services.playbooks() if current_user.can_edit else [],
        back=request.full_path,
    )


def account_lists() -> list[AccountList]:
    """Every account list by name, for the list filter and the "add to list" action."""
    return list(db.session.scalars(select(AccountList).order_by(func.lower(AccountList.name))))


@bp.route("/accounts.csv")
@login_required
def export_csv():
    """The current view of the risk list as CSV, every page, formulas neutralised; audited, as
    the book's ARR and risk leave the platform with it."""
    filters = risk.RiskFilters.from_args(request.args)
    today = clock.today()
    rows = risk.export_rows(filters, current_user.id, today)
    # Built whole (10k rows is ~2 MB): streaming would hold the request's DB session open.
    body, count = csv_text(rows, today)
    record_audit(
        "risk_list.exported", "risk_list", {"filters": filters.args(page=1), "rows": count}
    )
    db.session.commit()
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="risk-list-{today}.csv"'
    return response


def csv_safe(value: object) -> object:
    """Prefix text that a spreadsheet would run as a formula with a quote."""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_values(row: risk.RiskRow, today: dt.date) -> list[object]:
    """One CSV line of the risk list, in the order of CSV_HEADER."""
    drivers = [driver.get("sentence") or driver.get("feature", "") for driver in row.drivers]
    drivers += ["", ""]
    return [
        row.account_id,
        row.name,
        row.segment,
        row.owner_name or "",
        "" if row.score is None else round(row.score, 1),
        row.band or "",
        row.model_band or "",
        "" if row.trend is None else round(row.trend, 1),
        "" if row.p_churn is None else round(row.p_churn, 4),
        "" if row.p_churn_renewal is None else round(row.p_churn_renewal, 4),
        row.arr,
        "" if row.arr_at_risk is None else round(row.arr_at_risk, 2),
        row.renewal_date or "",
        row.days_to_renewal(today),
        row.open_tasks,
        drivers[0],
        drivers[1],
    ]


def csv_text(rows: Iterator[risk.RiskRow], today: dt.date) -> tuple[str, int]:
    """The CSV of `rows`, header first, and how many rows it has."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    count = 0
    for row in rows:
        writer.writerow([csv_safe(value) for value in csv_values(row, today)])
        count += 1
    return buffer.getvalue(), count


@bp.route("/accounts/<int:account_id>")
@login_required
def detail(account_id: int):
    """One account: health and risk, drivers, usage, tickets, answers, contacts, tasks, timeline."""
    facts = queries.account_facts(account_id, clock.today()) or abort(404)
    return render_account(facts.account, facts=facts)


def render_account(
    account: Account,
    status: int = 200,
    facts: queries.AccountFacts | None = None,
    **forms: FlaskForm,
):
    """The account page; `facts` when already read; `forms` replaces blank forms with
    submitted ones carrying errors."""
    today = clock.today()
    facts = facts or queries.account_facts(account.id, today) or abort(404)
    latest, churn = facts.latest, facts.churn
    points = queries.health_points(account.id, latest.scored_on) if latest else []
    usage = queries.account_usage(account.id, today, facts.last_usage_day)
    can_edit = services.can_edit_account(current_user, account)
    tasks = task_context(queries.account_tasks(account.id))
    blank = blank_forms(today) if can_edit or tasks["may_act"] else {}
    account_traits = account.traits if facts.has_traits else []
    page = render_template(
        "accounts/detail.html",
        account=account,
        can_edit=can_edit,
        latest=latest,
        override=facts.override,
        churn=churn,
        health_chart=figures.health_chart(points, latest.method if latest else "scorecard"),
        survival_chart=figures.survival_chart(churn, account.renewal_date, today),
        usage_charts=figures.usage_charts(usage.series, account.seats),
        usage=usage.summary,
        tickets=queries.recent_tickets(account.id),
        ticket_summary=facts.tickets,
        responses=queries.recent_responses(account.id),
        timeline=queries.timeline(account.id),
        contacts=queries.contacts(account.id),
        traits=account_traits,
        trait_definitions=traits.all_definitions() if account_traits else {},
        today=today,
        **tasks,
        **{**blank, **forms},
    )
    return page, status


def blank_forms(today: dt.date) -> dict[str, FlaskForm]:
    """The page's forms, empty: only built for who may edit the account or act on a task."""
    return {
        "note_form": NoteForm(formdata=None),
        "outreach_form": OutreachForm(formdata=None),
        "override_form": OverrideForm(formdata=None, expires_on=today + dt.timedelta(days=30)),
        "confirm_form": ConfirmForm(formdata=None),
        "snooze_form": SnoozeForm(formdata=None, until=today + dt.timedelta(days=7)),
        "complete_form": CompleteForm(formdata=None),
        "task_form": NewTaskForm(formdata=None),
    }


def task_context(tasks: list[Task]) -> dict[str, object]:
    """The account's tasks and what their actions need: checklist steps when there are tasks,
    playbooks and assignees only when the signed-in user may act on a task that is not done
    (`may_act`)."""
    editable = {task.id for task in tasks if task_services.can_edit_task(current_user, task)}
    actionable = any(task.id in editable and task.status != "done" for task in tasks)
    return {
        "tasks": tasks,
        "steps": task_services.steps_by_task([task.id for task in tasks]) if tasks else {},
        "playbooks": task_services.playbooks() if actionable else [],
        "assignees": queries.owners() if actionable else [],
        "can_edit_task": lambda task: task.id in editable,
        "claimable": task_services.Claimer.of(current_user).may_claim,
        "may_act": actionable,
    }


def back_to(account: Account, anchor: str):
    return redirect(url_for("accounts.detail", account_id=account.id) + f"#{anchor}")


@bp.route("/accounts/<int:account_id>/notes", methods=["POST"])
@roles_required("admin", "team_lead", "csm")
def add_note(account_id: int):
    """Add a note to the account's timeline."""
    account = services.editable_account_or_abort(current_user, account_id)
    form = NoteForm()
    if not form.validate_on_submit():
        flash("The note was not added: " + first_error(form), "error")
        return render_account(account, status=400, note_form=form)
    services.add_note(account, current_user, form.body.data)
    db.session.commit()
    flash("Note added.", "info")
    return back_to(account, "timeline")


@bp.route("/accounts/<int:account_id>/outreach", methods=["POST"])
@roles_required("admin", "team_lead", "csm")
def log_outreach(account_id: int):
    """Log a call, email or meeting with the customer."""
    account = services.editable_account_or_abort(current_user, account_id)
    form = OutreachForm()
    if not form.validate_on_submit():
        flash("The outreach was not logged: " + first_error(form), "error")
        return render_account(account, status=400, outreach_form=form)
    services.log_outreach(
        account, current_user, form.channel.data, form.contact.data or "", form.summary.data
    )
    db.session.commit()
    flash("Outreach logged.", "info")
    return back_to(account, "timeline")


@bp.route("/accounts/<int:account_id>/override", methods=["POST"])
@roles_required("admin", "team_lead", "csm")
def override_band(account_id: int):
    """Override the account's band with a reason until a date; refused once it has churned."""
    account = services.editable_account_or_abort(current_user, account_id)
    if account.is_churned:
        flash("The band was not changed: a churned account has no band to override.", "error")
        return render_account(account, status=409)
    form = OverrideForm()
    if not form.validate_on_submit():
        flash("The band was not changed: " + first_error(form), "error")
        return render_account(account, status=400, override_form=form)
    services.override_band(
        account, current_user, form.band.data, form.reason.data, form.expires_on.data
    )
    db.session.commit()
    flash(f"Band set to {form.band.data} until {form.expires_on.data}.", "info")
    return back_to(account, "health")


@bp.route("/accounts/<int:account_id>/override/clear", methods=["POST"])
@roles_required("admin", "team_lead", "csm")
def clear_override(account_id: int):
    """End the account's band override now."""
    account = services.editable_account_or_abort(current_user, account_id)
    if not ConfirmForm().validate_on_submit():
        flash("The form expired; please try again.", "error")
        return render_account(account, status=400)
    cleared = services.clear_override(account, current_user)
    db.session.commit()
    flash("Override cleared." if cleared else "There was no override to clear.", "info")
    return back_to(account, "health")


@bp.app_template_filter("money")
def money(value) -> str:
    """Format an amount as whole dollars with thousands separators."""
    return "—" if value is None else f"${value:,.0f}"


@bp.app_template_filter("segment_label")
def segment_label(segment: str | None) -> str:
    """SMB, Mid-market or Enterprise; an unknown value reads as itself, spaced and capitalised."""
    if not segment:
        return "—"
    return SEGMENT_LABELS.get(segment, segment.replace("_", " ").capitalize())


@bp.app_template_filter("trait_value")
def trait_value(value, kind: str) -> str:
    """A trait's value as a CSM reads it: Yes/No, numbers with separators, dates as stored."""
    if kind == "boolean":
        return "Yes" if value else "No"
    if kind == "number":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return str(value)


@bp.app_template_filter("pct")
def pct(value) -> str:
    """Format a probability (0-1) as a whole percentage."""
    return "—" if value is None else f"{100 * value:.0f}%"
