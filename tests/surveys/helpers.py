"""Small helpers shared by the survey tests (imported as tests.surveys.helpers)."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from cs_platform.extensions import db
from cs_platform.mail import mail_domain
from cs_platform.models import Contact, Task, TimelineEntry
from cs_platform.outbox import enqueue, process_batch
from cs_platform.webhooks.models import EVENT_TYPES, WebhookDelivery, WebhookEndpoint
from surveys.models import Invitation, SurveyResponse
from surveys.planning import plan_campaign
from surveys.tokens import derive_token, opt_out_token


def token_of(invitation: Invitation) -> str:
    return derive_token(current_app.config["SECRET_KEY"], invitation.token_salt)


def opt_out_of(invitation: Invitation) -> str:
    """The opt-out token of the invitation's emails (their unsubscribe link)."""
    secret = current_app.config["SECRET_KEY"]
    return opt_out_token(secret, invitation.contact_id, invitation.campaign.survey_id)


def invite(campaign) -> list[Invitation]:
    """Plan the campaign, commit, and return its invitations."""
    plan_campaign(campaign)
    db.session.commit()
    return list(db.session.scalars(select(Invitation).order_by(Invitation.id)))


def deliver_all() -> dict[str, int]:
    """Make every queued message due now and deliver it."""
    from sqlalchemy import update

    from cs_platform.models import utcnow
    from cs_platform.outbox import OutboxMessage

    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "pending")
        .values(next_attempt_at=utcnow())
    )
    db.session.commit()
    return process_batch("test-worker", 1000).outcomes


def subscribe_to_every_event() -> None:
    """A webhook endpoint for every event type, so anything published leaves a delivery row."""
    endpoint = WebhookEndpoint(
        url="https://hooks.example.com/cs", event_types=list(EVENT_TYPES), secret_encrypted="-"
    )
    db.session.add(endpoint)
    db.session.commit()


def footprint() -> dict[str, int]:
    """What answering or unsubscribing leaves behind, counted per kind of row."""
    db.session.expire_all()
    rows = {
        "responses": select(func.count()).select_from(SurveyResponse),
        "tasks": select(func.count()).select_from(Task),
        "timeline": select(func.count()).select_from(TimelineEntry),
        "webhooks": select(func.count()).select_from(WebhookDelivery),
        "unsubscribed": select(func.count()).where(Contact.unsubscribed_at.is_not(None)),
    }
    return {name: db.session.scalar(query) for name, query in rows.items()}


def send_test_email(campaign, to: str = "ada@example.com") -> EmailMessage:
    """Queue the campaign's "Send a test" email, deliver it and read the .eml it was written to
    (the file transport, the embedded default)."""
    payload = {"template": "test", "campaign_id": campaign.id, "to": to, "name": "Ada"}
    message = enqueue("email", payload, f"test:{campaign.id}:{to}")
    db.session.commit()
    assert deliver_all() == {"sent": 1}
    written = Path(current_app.config["MAIL_DIR"]) / f"survey-test-{message.id}_{mail_domain()}.eml"
    return message_from_bytes(written.read_bytes(), policy=policy.default)  # type: ignore[return-value]


def links_of(email: EmailMessage) -> list[str]:
    """The href of every link in the email's HTML part, in order."""
    return re.findall(r'href="([^"]+)"', email.get_body(("html",)).get_content())


def score_link(email: EmailMessage, score: int) -> str:
    """The email's link for `score`."""
    return next(link for link in links_of(email) if link.endswith(f"/{score}"))
