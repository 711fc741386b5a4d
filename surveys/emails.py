"""Survey emails: HTML (table layout, inline styles, no images) and text parts, one-click score
links, RFC 8058 unsubscribe headers and a Message-ID that stays the same on every retry."""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from flask import current_app, render_template

from surveys.metrics import SCORE_RANGES, band
from surveys.models import Campaign, Invitation, Survey
from surveys.texts import fill, resolve_texts
from surveys.tokens import derive_token

BAND_COLOURS = {"detractor": "#d9534f", "passive": "#f0ad4e", "promoter": "#3c9d5d"}


@dataclass(frozen=True)
class ScoreLink:
    score: int
    url: str
    colour: str


def invitation_token(invitation: Invitation) -> str:
    return derive_token(current_app.config["SECRET_KEY"], invitation.token_salt)


def public_url(path: str) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + path


def score_links(kind: str, base: str) -> list[ScoreLink]:
    """One link per point of the scale: 11 for NPS, 5 for CSAT, 7 for CES."""
    low, high = SCORE_RANGES[kind]
    return [
        ScoreLink(score, f"{base}/{score}", BAND_COLOURS[band(kind, score)])
        for score in range(low, high + 1)
    ]


def mail_domain() -> str:
    return current_app.config["MAIL_FROM"].rpartition("@")[2] or "localhost"


def message_id(invitation_id: int, number: int) -> str:
    """Stable per invitation and send (0 = invitation, n = n-th reminder), so retries dedupe."""
    return f"<survey-{invitation_id}-{number}@{mail_domain()}>"


def build_email(
    survey: Survey,
    campaign: Campaign | None,
    to: tuple[str, str],
    locale_hint: str | None,
    token: str,
    *,
    reminder: bool = False,
    test: bool = False,
) -> EmailMessage:
    """The complete message for one recipient (`to` is (name, address))."""
    locale, texts = resolve_texts(
        survey.kind, survey.texts or {}, survey.default_locale, locale_hint
    )
    first_name = (to[0] or "").split(" ")[0] or to[1]
    values = {"product": survey.product_name, "name": first_name}
    subject = fill(texts["reminder_subject" if reminder else "subject"], **values)
    base = public_url(f"/s/{token}")
    context = {
        "survey": survey,
        "locale": locale,
        "texts": {key: fill(value, **values) for key, value in texts.items() if key != "follow_up"},
        "links": score_links(survey.kind, base),
        "unsubscribe_url": f"{base}/unsubscribe",
        "test": test,
        "reminder": reminder,
    }
    email = EmailMessage()
    email["Subject"] = f"[Test] {subject}" if test else subject
    email["From"] = formataddr((survey.sender_name, current_app.config["MAIL_FROM"]))
    email["To"] = str(Address(display_name=to[0] or "", addr_spec=to[1]))
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
    email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email["Auto-Submitted"] = "auto-generated"
    if campaign is not None:
        email["X-Campaign-ID"] = str(campaign.id)
    email.set_content(render_template("surveys/email/invitation.txt", **context))
    email.add_alternative(render_template("surveys/email/invitation.html", **context), "html")
    return email


def invitation_email(invitation: Invitation, number: int) -> EmailMessage:
    """The invitation (number 0) or its n-th reminder."""
    contact = invitation.contact
    campaign = invitation.campaign
    email = build_email(
        campaign.survey,
        campaign,
        (contact.name, contact.email),
        contact.locale,
        invitation_token(invitation),
        reminder=number > 0,
    )
    email["Message-ID"] = message_id(invitation.id, number)
    return email
