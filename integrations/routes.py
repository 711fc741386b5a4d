"""Admin pages under /integrations: connections, their runs, and the review queue."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from cs_platform.audit import record_audit
from cs_platform.auth.decorators import roles_required
from cs_platform.extensions import db
from integrations.connectors import CONNECTORS
from integrations.connectors.warehouse import UnsafeSourceError, check_source_url
from integrations.forms import (
    CREDENTIALS,
    NOT_SECRET,
    DeleteForm,
    ResolveForm,
    connection_form,
)
from integrations.hosts import VENDOR_HOSTS, UnsafeHostError, policy_for
from integrations.models import KIND_LABELS, Connection, SyncRun, UnmatchedRecord
from integrations.services import connection_overview, find_account, save_connection
from integrations.sync import SyncError, check_connection, resolve_unmatched, run_sync
from integrations.usage import hash_write_key, new_write_key, unattributed_events

bp = Blueprint("integrations", __name__, url_prefix="/integrations", template_folder="templates")
PAGE_SIZE = 50


@bp.before_request
@roles_required("admin")
def admins_only() -> None:
    """Every page here is for admins."""


@bp.get("/")
def index():
    """Connections with their last sync; event sources with their unattributed events."""
    return render_template(
        "integrations/index.html", rows=connection_overview(), kinds=KIND_LABELS,
        unattributed=unattributed_events(),
    )  # fmt: skip


@bp.route("/new/<kind>", methods=["GET", "POST"])
def new(kind: str):
    """Add a connection of `kind`."""
    if kind not in CREDENTIALS:
        abort(404)
    return edit_form(None, kind)


@bp.route("/<int:connection_id>/edit", methods=["GET", "POST"])
def edit(connection_id: int):
    """Edit a connection; stored secrets stay unless new ones are typed."""
    connection = db.get_or_404(Connection, connection_id)
    return edit_form(connection, connection.kind)


def render_edit(form, kind: str, connection: Connection | None, status: int = 200, **extra):
    page = render_template(
        "integrations/edit.html", form=form, kind=kind, label=KIND_LABELS[kind],
        connection=connection, secrets=CREDENTIALS[kind],
        delete_form=DeleteForm(formdata=None), **extra,
    )  # fmt: skip
    return page, status


def edit_form(connection: Connection | None, kind: str):
    form = connection_form(kind, obj=connection)
    if request.method == "GET" and connection is not None:
        form.settings.data = json.dumps(connection.settings or {}, indent=2)
    if not form.validate_on_submit():
        return render_edit(form, kind, connection)
    problems = form_problems(form, kind, connection)
    if problems:
        for field, message in problems:
            form[field].errors = [*form[field].errors, message]
        return render_edit(form, kind, connection, 400)
    saved = save_connection(
        connection, name=form.name.data, kind=kind, base_url=form.base_url.data or "",
        credentials=form.credential_values(kind), settings=json.loads(form.settings.data or "{}"),
        interval_minutes=form.interval_minutes.data, request_budget=form.request_budget.data,
        enabled=form.enabled.data,
    )  # fmt: skip
    if kind == "segment" and saved.write_key_hash is None:
        return show_new_write_key(saved)
    if request.form.get("action") == "test" and kind in CONNECTORS:
        problem = check_connection(saved)
        record_audit("connection.tested", saved.name, {"passed": problem is None})
        flash(f"Test failed: {problem}" if problem else "Test passed: the vendor accepted "
              "the credentials.", "error" if problem else "info")  # fmt: skip
    db.session.commit()
    flash(f"Saved {saved.name}.", "info")
    return redirect(url_for(".edit", connection_id=saved.id))


def form_problems(form, kind: str, connection: Connection | None) -> list[tuple[str, str]]:
    """What the form may not save: a duplicate name, a base URL off the vendor's hosts, or a
    new base URL that would take the stored secrets along without them being typed again."""
    problems = []
    duplicate = db.session.scalar(select(Connection).where(Connection.name == form.name.data))
    if duplicate is not None and duplicate is not connection:
        problems.append(("name", "Another connection has this name."))
    base_url = form.base_url.data or ""
    if base_url and kind in VENDOR_HOSTS:
        try:
            policy_for(kind, current_app.config["INTEGRATIONS_ALLOWED_HOSTS"]).check(base_url)
        except UnsafeHostError as exc:
            problems.append(("base_url", f"Not saved: {exc}."))
    if kind == "sql" and form.url.data:
        try:
            check_source_url(form.url.data, current_app.config["SQLALCHEMY_DATABASE_URI"])
        except UnsafeSourceError as exc:
            problems.append(("url", f"Not saved: {exc}."))
    secret_fields = [name for name in CREDENTIALS[kind] if name not in NOT_SECRET]
    secrets_typed = any(form[name].data for name in secret_fields)
    moved = connection is not None and base_url != connection.base_url
    if moved and secret_fields and not secrets_typed:
        problems.append(
            ("base_url", "A new base URL needs the credentials typed again: stored secrets "
             "are never sent to a different address.")
        )  # fmt: skip
    return problems


def show_new_write_key(source: Connection, action: str = "connection.write_key_created"):
    """The new write key on this one page, never in the session cookie or a cache."""
    write_key = new_write_key()
    source.write_key_hash = hash_write_key(write_key)
    record_audit(action, source.name)
    db.session.commit()
    form = connection_form(source.kind, obj=source)
    form.settings.data = json.dumps(source.settings or {}, indent=2)
    page, status = render_edit(form, source.kind, source, new_write_key=write_key)
    return page, status, {"Cache-Control": "no-store", "Pragma": "no-cache"}


@bp.post("/<int:connection_id>/write-key")
def rotate_write_key(connection_id: int):
    """Replace an event source's write key: the old one stops working at once."""
    source = db.get_or_404(Connection, connection_id)
    if source.kind != "segment":
        abort(404)
    return show_new_write_key(source, "connection.write_key_rotated")


@bp.post("/<int:connection_id>/delete")
def delete(connection_id: int):
    """Delete a connection with its runs, cursors and review queue (after a confirming tick)."""
    connection = db.get_or_404(Connection, connection_id)
    if not DeleteForm().validate_on_submit():
        flash("Not deleted: tick the box to confirm.", "error")
        return redirect(url_for(".edit", connection_id=connection.id))
    name, details = connection.name, {"kind": connection.kind, "base_url": connection.base_url}
    record_audit("connection.deleted", name, details)
    db.session.delete(connection)
    db.session.commit()
    flash(f"Deleted {name}.", "info")
    return redirect(url_for(".index"))


@bp.post("/<int:connection_id>/sync")
def sync_now(connection_id: int):
    """Run a sync of this connection now."""
    connection = db.get_or_404(Connection, connection_id)
    try:
        run = run_sync(connection)
    except SyncError as error:
        flash(str(error), "error")
        return redirect(url_for(".index"))
    if run.status == "succeeded":
        flash(
            f"{connection.name}: fetched {run.fetched}, created {run.created}, "
            f"updated {run.updated}, unmatched {run.unmatched}, failed {run.failed}.",
            "info",
        )
    else:
        flash(f"{connection.name}: sync failed: {run.error}", "error")
    return redirect(url_for(".runs", connection_id=connection.id))


@bp.get("/<int:connection_id>/runs")
def runs(connection_id: int):
    """The latest sync runs of a connection."""
    connection = db.get_or_404(Connection, connection_id)
    recent = db.session.scalars(
        select(SyncRun).where(SyncRun.connection_id == connection.id)
        .order_by(SyncRun.id.desc()).limit(PAGE_SIZE)
    ).all()  # fmt: skip
    return render_template("integrations/runs.html", connection=connection, runs=recent)


@bp.get("/unmatched")
def unmatched():
    """Records waiting for an admin: no account matched, or bad data."""
    page = request.args.get("page", 1, type=int)
    records = db.paginate(
        select(UnmatchedRecord).where(UnmatchedRecord.resolved_at.is_(None))
        .order_by(UnmatchedRecord.last_seen_at.desc(), UnmatchedRecord.id.desc()),
        page=page, per_page=PAGE_SIZE, error_out=False,
    )  # fmt: skip
    return render_template("integrations/unmatched.html", records=records, form=ResolveForm())


@bp.post("/unmatched/<int:record_id>/resolve")
def resolve(record_id: int):
    """Assign a queued record to an account and store it."""
    record = db.get_or_404(UnmatchedRecord, record_id)
    form = ResolveForm()
    if not form.validate_on_submit():
        flash(f"Not resolved: {next(iter(form.errors.values()))[0]}", "error")
        return redirect(url_for(".unmatched"))
    account = find_account(form.account.data)
    if account is None:
        flash(f"No single account has the id or domain {form.account.data!r}.", "error")
        return redirect(url_for(".unmatched"))
    outcome = resolve_unmatched(record, account.id)
    if outcome.failed:
        db.session.rollback()
        flash("The record still has invalid data; fix it at the source and sync again.", "error")
    else:
        db.session.commit()
        flash(f"Stored {record.stream} record {record.external_id} for {account.name}.", "info")
    return redirect(url_for(".unmatched"))
