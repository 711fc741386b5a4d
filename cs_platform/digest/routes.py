"""The digest preview: a user's digest as it would go out today."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from cs_platform import clock
from cs_platform.digest.build import SECTION_TITLES, build_digests
from cs_platform.digest.sending import local_now
from cs_platform.extensions import db
from cs_platform.models import User

bp = Blueprint("digest", __name__, url_prefix="/digest")


def may_preview(viewer: User, user: User) -> bool:
    """One's own; an admin anyone's; a team lead their team's."""
    return (
        viewer.id == user.id
        or viewer.role == "admin"
        or (viewer.role == "team_lead" and user.team_lead_id == viewer.id)
    )


@bp.route("")
@login_required
def preview():
    """Today's digest of the signed-in user (or, `?user=<id>`, of one they may preview)."""
    user = current_user._get_current_object()
    wanted = request.args.get("user", type=int)
    if wanted is not None and wanted != user.id:
        user = db.session.get(User, wanted) or abort(404)
        if not may_preview(current_user, user):
            abort(403)
    now = clock.utcnow()
    digest = build_digests([user.id], now, clock.business_date(now))[user.id]
    others = []
    if current_user.role in ("admin", "team_lead"):
        query = select(User).where(User.active).order_by(User.name)
        if current_user.role == "team_lead":
            query = query.where(User.team_lead_id == current_user.id)
        others = db.session.scalars(query).all()
    return render_template(
        "digest/preview.html",
        user=user,
        digest=digest,
        day=local_now(user.timezone, now).date(),
        titles=SECTION_TITLES,
        others=others,
    )
