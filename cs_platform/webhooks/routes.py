"""Admin pages for webhook endpoints: register (secret shown once), test, rotate, enable or
disable, the delivery log, and replay of one or all failed deliveries."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from cs_platform.auth.decorators import roles_required
from cs_platform.extensions import db
from cs_platform.forms import ConfirmForm
from cs_platform.paging import newest_first
from cs_platform.webhooks import services
from cs_platform.webhooks.forms import EndpointForm
from cs_platform.webhooks.models import DELIVERY_STATUSES, WebhookDelivery, WebhookEndpoint
from cs_platform.webhooks.services import audit_endpoint
from cs_platform.webhooks.ssrf import UnsafeTargetError

bp = Blueprint("webhooks", __name__, url_prefix="/admin/webhooks")
LOG_PAGE = 50


def render_list(form: EndpointForm, status: int = 200):
    endpoints = db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()
    counts = dict(
        db.session.execute(
            select(WebhookDelivery.endpoint_id, func.count())
            .where(WebhookDelivery.status == "failed")
            .group_by(WebhookDelivery.endpoint_id)
        ).all()
    )
    page = render_template(
        "webhooks/list.html",
        endpoints=endpoints,
        failed=counts,
        form=form,
        flagged=services.is_flagged,
    )
    return page, status


def render_endpoint(endpoint: WebhookEndpoint, secret: str | None = None):
    """The endpoint's page with its delivery log, newest first, LOG_PAGE rows before `before`."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    status = request.args.get("status")
    if status in DELIVERY_STATUSES:
        query = query.where(WebhookDelivery.status == status)
    before = request.args.get("before", type=int)
    rows, older = newest_first(query, WebhookDelivery.id, before, LOG_PAGE)
    return render_template(
        "webhooks/detail.html",
        endpoint=endpoint,
        deliveries=rows,
        older=older,
        status=status,
        secret=secret,
        confirm=ConfirmForm(),
        flagged=services.is_flagged(endpoint),
        held=services.held_count(endpoint),
    )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def confirmed_endpoint(endpoint_id: int) -> WebhookEndpoint:
    """The endpoint of a one-button POST, after its CSRF check (400 when the form expired)."""
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; go back and try again.")
    return db.get_or_404(WebhookEndpoint, endpoint_id)


@bp.route("/", methods=["GET"])
@roles_required("admin")
def index():
    """Every endpoint with its state and failures, and a form to add one."""
    return render_list(EndpointForm())


@bp.route("/", methods=["POST"])
@roles_required("admin")
def create():
    """Register an endpoint and show its signing secret on this answer only."""
    form = EndpointForm()
    if not form.validate_on_submit():
        return render_list(form, status=422)
    try:
        endpoint, secret = services.create_endpoint(
            form.url.data.strip(),
            form.event_types.data,
            (form.description.data or "").strip(),
            form.allow_private.data,
            current_user,
        )
    except (UnsafeTargetError, services.WebhookError) as error:
        form.url.errors = [*form.url.errors, str(error)]
        return render_list(form, status=422)
    audit_endpoint(
        "webhook_endpoint.created",
        endpoint,
        event_types=endpoint.event_types,
        allow_private=endpoint.allow_private,
    )
    db.session.commit()
    return render_endpoint(endpoint, secret=secret)


@bp.route("/<int:endpoint_id>")
@roles_required("admin")
def detail(endpoint_id: int):
    """One endpoint: settings, actions and the delivery log."""
    return render_endpoint(db.get_or_404(WebhookEndpoint, endpoint_id))


@bp.route("/<int:endpoint_id>/test", methods=["POST"])
@roles_required("admin")
def send_test(endpoint_id: int):
    """Queue a webhook.test event to this endpoint."""
    endpoint = confirmed_endpoint(endpoint_id)
    services.send_test(endpoint)
    db.session.commit()
    flash("Test event queued; it appears in the log once the outbox worker sends it.", "info")
    return redirect(url_for(".detail", endpoint_id=endpoint.id))


@bp.route("/<int:endpoint_id>/rotate", methods=["POST"])
@roles_required("admin")
def rotate(endpoint_id: int):
    """A new secret, shown once; the old one keeps signing during the overlap."""
    endpoint = confirmed_endpoint(endpoint_id)
    secret = services.rotate_secret(endpoint)
    audit_endpoint("webhook_endpoint.secret_rotated", endpoint)
    db.session.commit()
    return render_endpoint(endpoint, secret=secret)


@bp.route("/<int:endpoint_id>/active", methods=["POST"])
@roles_required("admin")
def toggle(endpoint_id: int):
    """Enable a disabled endpoint (clearing its failure streak, sending what was held) or disable
    an active one (holding its events)."""
    endpoint = confirmed_endpoint(endpoint_id)
    released = services.set_active(endpoint, not endpoint.active)
    if endpoint.active:
        audit_endpoint("webhook_endpoint.enabled", endpoint, held_deliveries=released)
        message = f"Endpoint enabled; {plural(released, 'held event')} queued, oldest first."
    else:
        audit_endpoint("webhook_endpoint.disabled", endpoint)
        message = "Endpoint disabled; its events are held until you enable it again."
    db.session.commit()
    flash(message, "info")
    return redirect(url_for(".detail", endpoint_id=endpoint.id))


@bp.route("/<int:endpoint_id>/replay-failed", methods=["POST"])
@roles_required("admin")
def replay_failed(endpoint_id: int):
    """Send every failed delivery of the endpoint again."""
    endpoint = confirmed_endpoint(endpoint_id)
    count = services.replay_failed(endpoint)
    audit_endpoint("webhook_endpoint.replayed", endpoint, failed_deliveries=count)
    db.session.commit()
    flash(f"{count} failed deliver{'y' if count == 1 else 'ies'} queued again.", "info")
    return redirect(url_for(".detail", endpoint_id=endpoint.id))


@bp.route("/<int:endpoint_id>/deliveries/<int:delivery_id>/replay", methods=["POST"])
@roles_required("admin")
def replay(endpoint_id: int, delivery_id: int):
    """Send one delivery again, with its original id and body."""
    endpoint = confirmed_endpoint(endpoint_id)
    delivery = db.get_or_404(WebhookDelivery, delivery_id)
    if delivery.endpoint_id != endpoint.id:
        abort(404)
    services.replay(delivery)
    audit_endpoint("webhook_endpoint.replayed", endpoint, delivery_id=delivery.id)
    db.session.commit()
    flash(f"Delivery {delivery.id} queued again.", "info")
    return redirect(url_for(".detail", endpoint_id=endpoint.id))
