"""Survey emails: HTML (table layout, inline styles, no images) and text parts, a link per score
(it opens the answer page with the score chosen; the contact's "Send my answer" records it), RFC
8058 unsubscribe headers and a Message-ID that stays the same on every retry.

An invitation's unsubscribe link (and List-Unsubscribe URL) carries the contact's opt-out token,
not the invitation's: it keeps working after the survey link expires or the campaign is deleted.
A test email's links all carry the campaign's preview token (surveys.tokens).

Messages are written straight into their wire bytes (`cs_platform.mail.alternative_message`):
the email package's message classes parse and fold every header, which cost more than the
rest of the message, at several hundred messages a second per worker.
`OutgoingEmail.message()` parses the bytes back into an EmailMessage for previews and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formataddr, formatdate
from typing import Any

from flask import current_app

from cs_platform.mail import OutgoingEmail, alternative_message, mail_domain
from surveys.models import Campaign, Invitation, Survey
from surveys.survey_metrics import SCORE_RANGES, band
from surveys.texts import fill, resolve_texts
from surveys.tokens import derive_token, opt_out_token

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
    message_id: str,
    unsubscribe_path: str | None = None,
    reminder: bool = False,
    test: bool = False,
) -> OutgoingEmail:
    """The complete message for one recipient (`to` is (name, address)); without
    `unsubscribe_path`, the unsubscribe link is the score token's own."""
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
        "unsubscribe_url": public_url(unsubscribe_path or f"/s/{token}/unsubscribe"),
        "test": test,
        "reminder": reminder,
    }
    sender = current_app.config["MAIL_FROM"]
    headers = [
        ("Subject", f"[Test] {subject}" if test else subject),
        ("From", formataddr((survey.sender_name, sender), "utf-8")),
        ("To", formataddr((to[0] or "", to[1]), "utf-8")),
        ("Date", formatdate(localtime=False, usegmt=True)),
        ("Message-ID", message_id),
        ("List-Unsubscribe", f"<{context['unsubscribe_url']}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Auto-Submitted", "auto-generated"),
    ]
    if campaign is not None:
        headers.append(("X-Campaign-ID", str(campaign.id)))
    parts = render_parts(context)
    return OutgoingEmail(message_id, sender, to[1], alternative_message(headers, parts))


def render_parts(context: dict[str, Any]) -> list[tuple[str, str]]:
    """The text and HTML parts, as (MIME subtype, text): the templates rendered straight from
    the app's Jinja environment (loaded once, cached there), since an email needs none of
    `render_template`'s request context and signals."""
    environment = current_app.jinja_env
    return [
        (subtype, environment.get_template(f"surveys/email/invitation.{extension}").render(context))
        for subtype, extension in (("plain", "txt"), ("html", "html"))
    ]


def opt_out_path(contact_id: int, survey_id: int) -> str:
    """The lasting unsubscribe link of a contact's emails of a survey."""
    return f"/unsubscribe/{opt_out_token(current_app.config['SECRET_KEY'], contact_id, survey_id)}"


def invitation_email(invitation: Invitation, number: int) -> OutgoingEmail:
    """The invitation (number 0) or its n-th reminder."""
    contact = invitation.contact
    campaign = invitation.campaign
    return build_email(
        campaign.survey,
        campaign,
        (contact.name, contact.email),
        contact.locale,
        invitation_token(invitation),
        message_id=message_id(invitation.id, number),
        unsubscribe_path=opt_out_path(contact.id, campaign.survey_id),
        reminder=number > 0,
    )
