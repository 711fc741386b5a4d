"""Sending the daily digest: each user's once a day, once their local morning has come.

`send_due_digests(now)` (every 15 minutes on the scheduler's leader) picks the active users
whose local time has reached DIGEST_HOUR and who have no digest for their local day yet, builds
all their digests at once, and for each queues the email through the outbox (kind "digest",
dedupe key `digest:<user>:<local day>`) or records it skipped when nothing changed, in the same
transaction as the `DigestDay` row: a second run, or a second process, finds the day done. A
morning missed while nothing ran is made up later that local day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from email.utils import formataddr, formatdate
from typing import Any

from flask import current_app
from sqlalchemy import select

from cs_platform import bulk_writes, clock, outbox
from cs_platform.digest.build import SECTION_TITLES, Digest, build_digests
from cs_platform.digest.models import DigestDay
from cs_platform.extensions import db
from cs_platform.mail import OutgoingEmail, alternative_message, mail_domain, transport
from cs_platform.models import User

OUTBOX_KIND = "digest"
RECIPIENT_ROLES = ("csm", "team_lead", "admin")


def local_now(user_timezone: str | None, now: dt.datetime) -> dt.datetime:
    """`now` (naive UTC) on the user's clock: their zone, or the business time zone."""
    zone = clock.zone(user_timezone) if user_timezone else clock.business_zone()
    return now.replace(tzinfo=dt.UTC).astimezone(zone)


def due_users(now: dt.datetime) -> list[tuple[User, dt.date]]:
    """Active users past DIGEST_HOUR on their clock with no digest for that local day yet."""
    hour = current_app.config["DIGEST_HOUR"]
    users = db.session.scalars(
        select(User).where(User.active, User.role.in_(RECIPIENT_ROLES)).order_by(User.id)
    ).all()
    local = {user.id: local_now(user.timezone, now) for user in users}
    morning = [(user, local[user.id].date()) for user in users if local[user.id].hour >= hour]
    if not morning:
        return []
    keys = [(user.id, day) for user, day in morning]
    done = _done(keys)
    return [(user, day) for user, day in morning if (user.id, day) not in done]


def _done(keys: Sequence[tuple[int, dt.date]]) -> set[tuple[int, dt.date]]:
    days = {day for _, day in keys}
    rows = db.session.execute(
        select(DigestDay.user_id, DigestDay.day).where(
            bulk_writes.in_values(DigestDay.user_id, [user_id for user_id, _ in keys]),
            DigestDay.day.in_(days),
        )
    )
    return {(row.user_id, row.day) for row in rows}


def send_due_digests(now: dt.datetime | None = None) -> dict[str, int]:
    """Queue (or skip) the digest of every user whose morning has come; the caller commits."""
    now = now or clock.utcnow()
    due = due_users(now)
    digests = build_digests([user.id for user, _ in due], now, clock.business_date(now))
    messages, days = [], []
    for user, day in due:
        digest = digests[user.id]
        outcome = "sent" if digest.changed else "skipped"
        days.append(
            {
                "user_id": user.id,
                "day": day,
                "outcome": outcome,
                "lines": digest.size,
                "created_at": now,
            }
        )
        if digest.changed:
            messages.append(outbox_row(user, day, digest))
    bulk_writes.insert_ignoring_conflicts(DigestDay.__table__, days, ["user_id", "day"])
    outbox.enqueue_many(messages)
    return {"sent": len(messages), "skipped": len(days) - len(messages)}


def outbox_row(user: User, day: dt.date, digest: Digest) -> dict[str, Any]:
    """The digest's email as an outbox row: subject and both parts rendered now."""
    text, html = render(user, day, digest)
    payload = {
        "user_id": user.id,
        "to": user.email,
        "subject": digest.subject(),
        "text": text,
        "html": html,
    }
    return {
        "kind": OUTBOX_KIND,
        "payload": payload,
        "dedupe_key": f"digest:{user.id}:{day.isoformat()}",
    }


def render(user: User, day: dt.date, digest: Digest) -> tuple[str, str]:
    """The text and HTML parts of a digest (templates digest/email.txt and .html)."""
    environment = current_app.jinja_env
    context = {
        "user": user,
        "day": day,
        "digest": digest,
        "titles": SECTION_TITLES,
        "preview_url": current_app.config["BASE_URL"].rstrip("/") + "/digest",
    }
    return tuple(  # type: ignore[return-value]
        environment.get_template(f"digest/email.{extension}").render(context)
        for extension in ("txt", "html")
    )


def deliver_digest(message: outbox.OutboxMessage) -> None:
    """Outbox handler of kind "digest": send the rendered email through the one transport."""
    payload = message.payload
    message_id = f"<digest-{message.id}@{mail_domain()}>"
    sender = current_app.config["MAIL_FROM"]
    headers = [
        ("Subject", payload["subject"]),
        ("From", formataddr(("CS Platform", sender))),
        ("To", payload["to"]),
        ("Date", formatdate(localtime=False, usegmt=True)),
        ("Message-ID", message_id),
        ("Auto-Submitted", "auto-generated"),
    ]
    raw = alternative_message(headers, [("plain", payload["text"]), ("html", payload["html"])])
    transport().send(OutgoingEmail(message_id, sender, payload["to"], raw))
