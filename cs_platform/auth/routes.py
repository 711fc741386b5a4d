"""Login and logout pages for CSMs, admins and viewers."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_url, login_user, logout_user

from cs_platform.auth.forms import LoginForm
from cs_platform.auth.services import authenticate
from cs_platform.extensions import db, limiter, login_manager
from cs_platform.models import User

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)
LOGIN_MESSAGE = "Please sign in to see that page."


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


@login_manager.unauthorized_handler
def sign_in_first():
    """To the sign-in page, then back to the page asked for. Why is said only for a page deeper
    than the home page: on a first visit to the home page it would be noise."""
    if request.path != url_for("accounts.index"):
        flash(LOGIN_MESSAGE, "info")
    return redirect(login_url("auth.login", next_url=request.url))


def safe_next_url(target: str | None) -> str:
    """Only same-site relative paths may be followed after login (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and "\\" not in target:
            return target
    return url_for("accounts.index")


def login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def submitted_email() -> str:
    """The address being signed in to, so guesses spread over many client addresses are
    throttled per account too."""
    return "login:" + (request.form.get("email") or "").strip().lower()


def sign_in_failed(response) -> bool:
    """Only failed sign-ins count against the limits; people who type right are never held up."""
    return response.status_code == 401


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"], deduct_when=sign_in_failed)
@limiter.limit(login_limit, methods=["POST"], key_func=submitted_email, deduct_when=sign_in_failed)
def login():
    """Show the login form and sign the user in."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user, remember=form.remember.data)
            log.info("login succeeded", extra={"user_id": user.id})
            return redirect(safe_next_url(request.args.get("next")))
        log.info("login failed", extra={"remote_addr": request.remote_addr})
        flash("Wrong email or password.", "error")
    status = 401 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out (POST only, so a link on another site cannot log people out)."""
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
