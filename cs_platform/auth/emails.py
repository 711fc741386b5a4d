"""Emails to users about their account (outbox kind "account_email"): a password-reset link and
a notice that sign-ins were paused after many wrong passwords. Built when sent, so the reset
link (an HMAC under SECRET_KEY) is never stored; sent with the product's one mail transport."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from flask import current_app, render_template

from cs_platform import outbox
from cs_platform.auth.passwords import RESET_HOURS, token_of
from cs_platform.extensions import db
from cs_platform.mail import OutgoingEmail, mail_domain, transport
from cs_platform.models import PasswordReset, User, utcnow

OUTBOX_KIND = "account_email"
SUBJECTS = {
    "password_reset": "Choose a new password",
    "login_notice": "Sign-ins to your account were paused",
}


def reset_context(payload: dict[str, Any]) -> tuple[User, dict[str, Any]]:
    reset = db.session.get(PasswordReset, payload["reset_id"])
    if reset is None or reset.used_at is not None or reset.expires_at < utcnow():
        raise outbox.DeliveryCancelledError("the reset link was used or has expired")
    link = f"{current_app.config['BASE_URL'].rstrip('/')}/login/reset/{token_of(reset)}"
    return reset.user, {"link": link, "hours": RESET_HOURS, "forced": bool(reset.requested_by_id)}


def notice_context(payload: dict[str, Any]) -> tuple[User, dict[str, Any]]:
    user = db.session.get(User, payload["user_id"])
    if user is None:
        raise outbox.DeliveryCancelledError("the user was deleted")
    return user, {"link": f"{current_app.config['BASE_URL'].rstrip('/')}/login/forgot"}


CONTEXTS = {"password_reset": reset_context, "login_notice": notice_context}


def account_email(message_id: int, template: str, user: User, context: dict[str, Any]):
    """The message as text and HTML parts (templates/auth/email/<template>.txt and .html)."""
    email = EmailMessage()
    email["From"] = current_app.config["MAIL_FROM"]
    email["To"] = user.email
    email["Subject"] = SUBJECTS[template]
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = f"<account-{message_id}@{mail_domain()}>"
    context = {**context, "user": user}
    email.set_content(render_template(f"auth/email/{template}.txt", **context))
    email.add_alternative(render_template(f"auth/email/{template}.html", **context), "html")
    # CRLF line ends, as SMTP wants them: smtplib sends bytes as they are, and strict servers
    # refuse bare LF (aiosmtpd reads the whole message as one over-long line).
    raw = email.as_bytes(policy=policy.SMTP)
    return OutgoingEmail(email["Message-ID"], email["From"], user.email, raw)


def deliver_account_email(message: outbox.OutboxMessage) -> None:
    """Outbox handler of kind "account_email"."""
    template = message.payload["template"]
    user, context = CONTEXTS[template](message.payload)
    if not user.active:
        raise outbox.DeliveryCancelledError("the user is deactivated")
    transport().send(account_email(message.id, template, user, context))
