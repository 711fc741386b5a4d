"""Small helpers shared by the survey tests (imported as tests.surveys.helpers)."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.outbox import process_batch
from surveys.models import Invitation
from surveys.planning import plan_campaign
from surveys.tokens import derive_token


def token_of(invitation: Invitation) -> str:
    return derive_token(current_app.config["SECRET_KEY"], invitation.token_salt)


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
