"""Admin pages for API keys: create (shown once), scopes, last use, revoke."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from cs_platform.admin.forms import ApiKeyForm
from cs_platform.audit import record_audit
from cs_platform.auth.decorators import roles_required
from cs_platform.auth.services import AuthError, create_api_key
from cs_platform.extensions import db
from cs_platform.forms import ConfirmForm
from cs_platform.models import ApiKey, utcnow

bp = Blueprint("api_keys", __name__, url_prefix="/admin/api-keys")


def render_keys(form: ApiKeyForm, new_key: str | None = None, status: int = 200):
    keys = db.session.scalars(
        select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
    ).all()
    page = render_template(
        "admin/api_keys.html", keys=keys, form=form, confirm=ConfirmForm(), new_key=new_key
    )
    return page, status


def audit_key(action: str, key: ApiKey, **details: object) -> None:
    """Audit a key by its shown prefix and name, as the CLI does; never the secret."""
    record_audit(action, key.prefix, {"name": key.name, **details, "via": "admin page"})


@bp.route("/", methods=["GET"])
@roles_required("admin")
def index():
    """Every API key with its scopes and last use, and a form to make a new one."""
    return render_keys(ApiKeyForm())


@bp.route("/", methods=["POST"])
@roles_required("admin")
def create():
    """Create a key and show its secret on this answer only."""
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return render_keys(form, status=422)
    try:
        key, plaintext = create_api_key(form.name.data.strip(), form.scopes.data, current_user)
    except AuthError as error:
        form.scopes.errors = [*form.scopes.errors, str(error)]
        return render_keys(form, status=422)
    audit_key("api_key.created", key, scopes=key.scopes)
    db.session.commit()
    return render_keys(ApiKeyForm(formdata=None), new_key=plaintext)


@bp.route("/<int:key_id>/revoke", methods=["POST"])
@roles_required("admin")
def revoke(key_id: int):
    """Revoke a key: the next call with it gets 401."""
    if not ConfirmForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for(".index"))
    key = db.get_or_404(ApiKey, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit_key("api_key.revoked", key)
        db.session.commit()
    flash(f"Revoked the key {key.name}.", "info")
    return redirect(url_for(".index"))
