"""Sign-in, sign-out, password change and reset for CSMs, admins and viewers.

Failed sign-ins are throttled three ways, so guessing is slow and nobody can lock a user out
cheaply: per client address and account (LOGIN_RATE_LIMIT, a short and a longer window), per
address across accounts (LOGIN_ADDRESS_RATE_LIMIT) and, high enough that only a flood reaches
it, per account (LOGIN_ACCOUNT_RATE_LIMIT), which also emails the account's owner.
"""

from __future__ import annotations

import logging
import string
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter import RequestLimit
from flask_login import current_user, login_required, login_url, login_user, logout_user
from sqlalchemy import select

from cs_platform.audit import record_audit
from cs_platform.auth import passwords
from cs_platform.auth.forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    NewPasswordForm,
)
from cs_platform.auth.services import AuthError, authenticate
from cs_platform.extensions import db, limiter, login_manager
from cs_platform.models import User, utcnow
from cs_platform.outbox import enqueue_many

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)
LOGIN_MESSAGE = "Please sign in to see that page."
FORGOT_ANSWER = (
    "If an account has that email, a link to choose a new password is on its way. "
    "It works once, within an hour."
)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user of a session or remember-me cookie, if its session version is still current."""
    number, _, version = user_id.partition(":")
    if not (number.isdecimal() and version.isdecimal()):
        return None
    user = db.session.get(User, int(number))
    return user if user is not None and user.session_version == int(version) else None


@login_manager.unauthorized_handler
def sign_in_first():
    """To the sign-in page, then back to the page asked for. Why is said only for a page deeper
    than the home page: on a first visit to the home page it would be noise."""
    if request.path != url_for("accounts.index"):
        flash(LOGIN_MESSAGE, "info")
    return redirect(login_url("auth.login", next_url=request.url))


def safe_next_url(target: str | None) -> str:
    """Only same-site paths may be followed after login: no scheme or host, no "//" or "/\\"
    that browsers read as another host, no control characters they strip first."""
    if target and is_local_path(target):
        return target
    return url_for("accounts.index")


def is_local_path(target: str) -> bool:
    if any(char in target for char in "\\" + string.whitespace) or not target.isprintable():
        return False
    parts = urlsplit(target)
    return (
        target.startswith("/")
        and not target.startswith("//")
        and not parts.scheme
        and not parts.netloc
    )


def config_limit(name: str):
    return lambda: current_app.config[name]


def submitted_email() -> str:
    return (request.form.get("email") or "").strip().lower()


def address_and_account() -> str:
    return f"login:{request.remote_addr}:{submitted_email()}"


def account_key() -> str:
    return f"login-account:{submitted_email()}"


def sign_in_failed(response) -> bool:
    """Only failed sign-ins count against the limits; people who type right are never held up."""
    return response.status_code == 401


def notify_account_owner(limit: RequestLimit) -> None:
    """The per-account cap was reached: tell the account's owner, once an hour."""
    user = db.session.scalar(select(User).where(User.email == submitted_email()))
    if user is None:
        return
    hour = utcnow().strftime("%Y-%m-%dT%H")
    notice = {"template": "login_notice", "user_id": user.id}
    key = f"login-notice:{user.id}:{hour}"
    if enqueue_many([{"kind": "account_email", "payload": notice, "dedupe_key": key}]):
        record_audit("login.paused", user.email, {"limit": str(limit.limit)})  # once an hour too
        db.session.commit()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    config_limit("LOGIN_RATE_LIMIT"), methods=["POST"], key_func=address_and_account,
    deduct_when=sign_in_failed, error_message="Too many wrong passwords from here: wait a "
    "minute and try again, or choose a new password.",
)  # fmt: skip
@limiter.limit(
    config_limit("LOGIN_ADDRESS_RATE_LIMIT"), methods=["POST"], deduct_when=sign_in_failed,
    error_message="Too many wrong passwords from this address: wait a while and try again.",
)  # fmt: skip
@limiter.limit(
    config_limit("LOGIN_ACCOUNT_RATE_LIMIT"), methods=["POST"], key_func=account_key,
    deduct_when=sign_in_failed, on_breach=notify_account_owner,
    error_message="Too many wrong passwords for this account: password sign-ins are paused "
    "for a while and its owner has been told by email.",
)  # fmt: skip
def login():
    """Show the login form and sign the user in."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            session.clear()  # nothing from before the sign-in survives it, the CSRF token neither
            login_user(user, remember=form.remember.data)
            record_audit("login.succeeded", user.email, actor=user)
            db.session.commit()
            return redirect(safe_next_url(request.args.get("next")))
        record_audit("login.failed", (form.email.data or "").strip().lower()[:254])
        db.session.commit()
        flash("Wrong email or password.", "error")
    status = 401 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out everywhere (POST only, so a link on another site cannot log people out): every
    session and remember-me cookie of the user stops working, copies included."""
    user = current_user._get_current_object()
    passwords.end_sessions(user)
    record_audit("logout", user.email)
    db.session.commit()
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def has_remember_cookie() -> bool:
    """Whether this browser chose "Keep me signed in" (its cookie is then renewed, not lost)."""
    return current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's own password; every other session ends, this one goes on."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            passwords.change_password(user, form.current.data, form.password.data)
        except AuthError as error:
            form.password.errors = [*form.password.errors, str(error).capitalize()]
        else:
            record_audit("password.changed", user.email)
            db.session.commit()
            login_user(user, remember=has_remember_cookie())  # carries the new version
            flash("Your password is changed; you were signed out everywhere else.", "info")
            return redirect(url_for("accounts.index"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/change_password.html", form=form), status


@bp.route("/login/forgot", methods=["GET", "POST"])
@limiter.limit(config_limit("PASSWORD_RESET_RATE_LIMIT"), methods=["POST"])
@limiter.limit(config_limit("PASSWORD_RESET_RATE_LIMIT"), methods=["POST"], key_func=account_key)
def forgot_password():
    """Ask for a reset link; the answer is the same whether or not the email has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        user = passwords.user_for_reset_request(form.email.data)
        if user is not None:
            passwords.start_reset(user)
            record_audit("password.reset_requested", user.email)
        db.session.commit()
        flash(FORGOT_ANSWER, "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_password.html", form=form)


@bp.route("/login/reset/<token>", methods=["GET", "POST"])
@limiter.limit(config_limit("PASSWORD_RESET_RATE_LIMIT"), methods=["POST"])
def reset_password(token: str):
    """Choose a new password from an emailed link (single use, one hour)."""
    reset = passwords.usable_reset(token)
    if reset is None:
        return render_template("auth/reset_unusable.html"), 410
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            user = passwords.complete_reset(reset, form.password.data)
        except AuthError as error:
            form.password.errors = [*form.password.errors, str(error).capitalize()]
        else:
            record_audit("password.reset", user.email, actor=user)
            db.session.commit()
            flash("Your password is set. Sign in with it.", "info")
            return redirect(url_for("auth.login"))
    status = 400 if request.method == "POST" else 200
    page = render_template("auth/reset_password.html", form=form, user=reset.user)
    return page, status, {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
