"""Outbox handlers that deliver alerts: "alert_slack" and "alert_teams" post to the user's
incoming webhook, "alert_email" mails them through the product's one transport.

Contracts honoured:
- Slack incoming webhooks answer 200 "ok". 429 carries Retry-After (seconds): retried after
  exactly that long. 400 invalid_payload, 403 action_prohibited, 404 no_service, 410
  channel_is_archived (any other 4xx too) are permanent, with Slack's body as the error. 5xx,
  timeouts and connection errors are retried on the outbox's back-off.
- Teams incoming webhooks answer 200 "1"; Power Automate workflow webhooks answer 202. A 200
  whose body reports an HTTP 429 (old connectors did so) and any 429 are retried (after
  Retry-After when given); other 4xx are permanent; 5xx and connection errors are retried.

The URLs are secrets: they are never logged, and errors name only the host. Each request obeys
the SSRF checks of webhook endpoints (`cs_platform.webhooks.ssrf`) and WEBHOOK_TIMEOUT_SECONDS
in all; private and loopback targets only with ALERTS_ALLOW_PRIVATE_HOSTS. A message whose
Slack or Teams URL was removed after it was queued goes by email instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from flask import current_app, render_template

from cs_platform import outbox
from cs_platform.alerts.models import CHANNEL_LABELS, KIND_LABELS
from cs_platform.alerts.notify import channel_dedupe_key, outbox_kind
from cs_platform.alerts.services import preference_of, private_hosts_allowed, webhook_url
from cs_platform.extensions import db
from cs_platform.mail import OutgoingEmail, mail_domain, transport
from cs_platform.models import User, utcnow
from cs_platform.webhooks.ssrf import UnsafeTargetError, check_target, deadline, guarded_session

USER_AGENT = "cs-platform-alerts/1"
CONNECT_SECONDS = 5
MAX_RETRY_AFTER = 86_400
MAX_BODY = 1024


@dataclass(frozen=True)
class Answer:
    """What a webhook answered: status, the start of its body, its Retry-After in seconds."""

    status: int
    body: str
    retry_after: int | None


def recipient(message: outbox.OutboxMessage) -> User:
    """The alert's user; cancels the message when they were deleted, deactivated, or paused
    alerts since it was queued (test alerts ignore the pause)."""
    user = db.session.get(User, message.payload["user_id"])
    if user is None or not user.active:
        raise outbox.DeliveryCancelledError("the user was deleted or deactivated")
    preference = preference_of(user.id)
    if preference is not None and preference.paused and message.payload["kind"] != "test":
        raise outbox.DeliveryCancelledError("the user paused alerts")
    return user


SUBJECT_LENGTH = 120


def title(payload: dict[str, Any]) -> str:
    label = KIND_LABELS.get(payload["kind"], "Alert")
    return " ".join(f"{label}: {payload['account_name']}".split())


def subject(payload: dict[str, Any]) -> str:
    """The email's subject: the title and the reason, cut to fit an inbox line."""
    whole = f"{title(payload)}: {payload['reason']}"
    return whole if len(whole) <= SUBJECT_LENGTH else whole[: SUBJECT_LENGTH - 1] + "…"


# Slack.


def slack_escape(text: str) -> str:
    """Slack's mrkdwn control characters, escaped as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(payload: dict[str, Any]) -> dict[str, Any]:
    """Block Kit with a plain-text fallback (notifications show `text`)."""
    label = KIND_LABELS.get(payload["kind"], "Alert")
    name, reason = slack_escape(payload["account_name"]), slack_escape(payload["reason"])
    return {
        "text": f"{title(payload)}: {payload['reason']}",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{label}* · <{payload['link']}|{name}>\n{reason}",
                },
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "CS Platform alert"}]},
        ],
    }


def slack_outcome(answer: Answer) -> None:
    """Return when Slack took the message; raise the outbox's error for anything else."""
    if answer.status == 200:
        return
    reason = f"Slack answered {answer.status}: {answer.body or 'no body'}"
    if answer.status == 429:
        raise outbox.TransientDeliveryError(reason, retry_after=answer.retry_after)
    if answer.status >= 500:
        raise outbox.TransientDeliveryError(reason)
    raise outbox.PermanentDeliveryError(reason)


# Microsoft Teams.


def teams_body(payload: dict[str, Any]) -> dict[str, Any]:
    """An Adaptive Card message, understood by incoming webhooks and Workflows alike."""
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": title(payload), "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "text": payload["reason"], "wrap": True},
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Open in CS Platform", "url": payload["link"]}
        ],
    }
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
    return {"type": "message", "attachments": [attachment]}


def teams_outcome(answer: Answer) -> None:
    """Return when Teams took the message; raise the outbox's error for anything else."""
    reason = f"Teams answered {answer.status}: {answer.body or 'no body'}"
    if answer.status == 200 and "429" in answer.body:
        raise outbox.TransientDeliveryError(reason)  # an old connector's throttling
    if answer.status in (200, 202):
        return
    if answer.status == 429:
        raise outbox.TransientDeliveryError(reason, retry_after=answer.retry_after)
    if answer.status >= 500:
        raise outbox.TransientDeliveryError(reason)
    raise outbox.PermanentDeliveryError(reason)


# Posting.


def retry_after_seconds(value: str | None) -> int | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None when absent or bad."""
    if not value:
        return None
    try:
        seconds = int(value.strip())
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = int((moment.astimezone(dt.UTC).replace(tzinfo=None) - utcnow()).total_seconds())
    return min(max(seconds, 0), MAX_RETRY_AFTER)


def post_json(url: str, body: dict[str, Any]) -> Answer:
    """POST `body` to a webhook within WEBHOOK_TIMEOUT_SECONDS in all, never following
    redirects; errors that name only the host, never the secret URL."""
    host = urlsplit(url).hostname
    limit = current_app.config["WEBHOOK_TIMEOUT_SECONDS"]
    allow_private = private_hosts_allowed()
    with deadline(limit) as watch:
        try:
            check_target(url, allow_private)
            answer = send(url, body, limit, allow_private)
        except UnsafeTargetError as error:
            raise outbox.PermanentDeliveryError(f"refused target: {error}") from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            if watch.expired:
                break_message = f"no complete answer from {host} within {limit} s"
                raise outbox.TransientDeliveryError(break_message) from None
            raise outbox.TransientDeliveryError(f"{type(error).__name__} reaching {host}") from None
    return answer


def send(url: str, body: dict[str, Any], limit: float, allow_private: bool) -> Answer:
    with (
        guarded_session(public_only=not allow_private) as session,
        session.post(
            url,
            json=body,
            headers={"user-agent": USER_AGENT},
            timeout=(min(CONNECT_SECONDS, limit), limit + 1),
            allow_redirects=False,
            stream=True,
        ) as response,
    ):
        text = response.raw.read(MAX_BODY, decode_content=True).decode("utf-8", "replace")
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return Answer(response.status_code, text.strip()[:300], retry_after)


def deliver_webhook_alert(
    channel: str, build: Callable[[dict[str, Any]], dict[str, Any]], judge: Callable[[Answer], None]
) -> Callable[[outbox.OutboxMessage], None]:
    """The outbox handler of one webhook channel."""

    def deliver(message: outbox.OutboxMessage) -> None:
        user = recipient(message)
        url = webhook_url(preference_of(user.id), channel)
        if url is None:
            fall_back_to_email(message)
            raise outbox.DeliveryCancelledError(
                f"no {CHANNEL_LABELS[channel]} URL any more: sent by email instead"
            )
        judge(post_json(url, build(message.payload)))

    deliver.__name__ = deliver.__qualname__ = f"deliver_{channel}_alert"
    return deliver


deliver_slack_alert = deliver_webhook_alert("slack", slack_body, slack_outcome)
deliver_teams_alert = deliver_webhook_alert("teams", teams_body, teams_outcome)


def fall_back_to_email(message: outbox.OutboxMessage) -> None:
    """Queue the email twin of a Slack or Teams message (nothing if the alert already has one)."""
    alert_key = message.dedupe_key.rpartition(":")[0]
    payload = {**message.payload, "channel": "email"}
    outbox.enqueue_many(
        [
            {
                "kind": outbox_kind("email"),
                "payload": payload,
                "dedupe_key": channel_dedupe_key(alert_key, "email"),
            }
        ]
    )


# Email.


def alert_email(message_id: int, user: User, payload: dict[str, Any]) -> OutgoingEmail:
    """The alert as a short text and HTML email (templates/alerts/email/alert.txt and .html)."""
    email = EmailMessage()
    email["From"] = current_app.config["MAIL_FROM"]
    email["To"] = user.email
    email["Subject"] = subject(payload)
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = f"<alert-{message_id}@{mail_domain()}>"
    context = {"user": user, "alert": payload, "title": title(payload)}
    email.set_content(render_template("alerts/email/alert.txt", **context))
    email.add_alternative(render_template("alerts/email/alert.html", **context), "html")
    # CRLF line ends, as SMTP wants them: smtplib sends bytes as they are.
    raw = email.as_bytes(policy=policy.SMTP)
    return OutgoingEmail(email["Message-ID"], email["From"], user.email, raw)


def deliver_email_alert(message: outbox.OutboxMessage) -> None:
    """Outbox handler of kind "alert_email"."""
    user = recipient(message)
    transport().send(alert_email(message.id, user, message.payload))
