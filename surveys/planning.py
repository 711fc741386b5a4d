"""Campaign planning, set-wise: audience, sample, fatigue and throttle, drip, invitations and
outbox rows.

`plan_campaign` turns a campaign into invitations, each with an outbox email due at the contact's
send window, in the caller's transaction (the job or request commits). Re-running it is safe: an
invitation is unique per campaign, contact and period in the database, and so is a skip. Reminders
are queued for the contact's send window too, by the same placement as the first send.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    func,
    or_,
    select,
    update,
)

from cs_platform.bulk_writes import insert_ignoring_conflicts
from cs_platform.extensions import db
from cs_platform.models import Account, Contact, utcnow
from cs_platform.outbox import enqueue_many
from surveys.models import Campaign, Invitation, SurveySkip
from surveys.schedule import (
    ScheduleError,
    Window,
    daily_quota,
    drip_day,
    in_sample,
    period_key,
    send_time,
    validate_cron,
)
from surveys.tokens import derive_token, hash_token, new_salt

log = logging.getLogger(__name__)

AUDIENCE_FIELDS = {
    "segments": Account.segment,
    "lifecycle_stages": Account.lifecycle_stage,
    "plans": Account.plan,
    "roles": Contact.role,
}
SOLVED_STATUSES = ("solved", "closed")  # a reopened ticket waits until it is solved again
# A sync page's rows carry the time they were written but are visible only once the page
# commits; reading this far back past the last run covers a sync still open at that run.
SYNC_LAG = dt.timedelta(hours=1)


class CampaignError(ValueError):
    """A campaign that cannot be saved or run as it is; the message says what to change."""


@dataclass(frozen=True)
class Candidate:
    """One contact the audience holds for one period, not to be sent before `not_before`."""

    contact_id: int
    account_id: int
    timezone: str
    period_key: str
    not_before: dt.datetime


@dataclass
class PlanResult:
    invited: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def audience_query(audience: dict) -> Select:
    """Contacts matching the audience rule; never churned accounts, unsubscribed or bouncing."""
    query = (
        select(Contact.id, Contact.account_id, Contact.timezone)
        .join(Account, Account.id == Contact.account_id)
        .where(
            Contact.unsubscribed_at.is_(None),
            Contact.bounced_at.is_(None),
            Account.churned_at.is_(None),
            Account.lifecycle_stage != "churned",
        )
    )
    for key, column in AUDIENCE_FIELDS.items():
        if audience.get(key):
            query = query.where(column.in_(audience[key]))
    return query.order_by(Contact.id)


def audience_size(audience: dict) -> int:
    counted = select(func.count()).select_from(audience_query(audience).subquery())
    return db.session.execute(counted).scalar_one()


def validate_campaign(campaign: Campaign) -> None:
    """Raise CampaignError for a rule that cannot work: bad cron, empty audience, bad window."""
    if campaign.trigger == "recurring":
        if not campaign.cron:
            raise CampaignError("a recurring campaign needs a crontab rule, e.g. 0 6 * * mon")
        try:
            validate_cron(campaign.cron, timezone=campaign.timezone or "UTC")
        except ScheduleError as error:
            raise CampaignError(str(error)) from error
    if campaign.trigger == "one_off" and campaign.send_at is None:
        raise CampaignError("a one-off campaign needs a send time")
    if campaign.trigger == "event" and not campaign.event:
        raise CampaignError("an event campaign needs an event, e.g. ticket_solved")
    if not 0 <= campaign.window_start_hour < campaign.window_end_hour <= 24:
        raise CampaignError("the send window must start before it ends, within 0-24 h")
    _validate_spread(campaign)
    unknown = set(campaign.audience or {}) - set(AUDIENCE_FIELDS)
    if unknown:
        raise CampaignError(f"unknown audience fields: {', '.join(sorted(unknown))}")
    if audience_size(campaign.audience or {}) == 0:
        raise CampaignError("the audience matches no contact: widen the rule")


def _validate_spread(campaign: Campaign) -> None:
    """A spread must end before the next period starts, and an event campaign sends each
    invitation after its delay, so spreading it would only make the answers come late."""
    if not campaign.spread_days:
        return
    if campaign.trigger == "event":
        raise CampaignError(
            "an event campaign sends after its delay: leave the spread empty, or use a daily cap"
        )
    if campaign.trigger == "recurring" and campaign.spread_days > campaign.period_days:
        raise CampaignError(
            f"spread the sends over at most the {campaign.period_days} days of a period, "
            "or the next period starts before this one is sent"
        )


def campaign_window(campaign: Campaign) -> Window:
    return Window(campaign.window_start_hour, campaign.window_end_hour, campaign.weekdays_only)


def plan_campaign(campaign: Campaign, now: dt.datetime | None = None) -> PlanResult:
    """Invite the campaign's audience for the current run; flushes, the caller commits."""
    now = now or utcnow()
    if campaign.status != "active":
        return PlanResult()
    candidates = list(_candidates(campaign, now))
    result = _invite(campaign, candidates, now)
    campaign.last_planned_at = now
    log.info(
        "campaign planned",
        extra={"campaign_id": campaign.id, "invited": result.invited, "skipped": result.skipped},
    )
    return result


def _candidates(campaign: Campaign, now: dt.datetime) -> Iterable[Candidate]:
    query = audience_query(campaign.audience or {})
    if campaign.trigger == "event":
        yield from _event_candidates(campaign, query, now)
        return
    key = "once" if campaign.trigger == "one_off" else period_key(now, campaign.period_days)
    not_before = max(now, campaign.send_at or now)
    for contact_id, account_id, timezone in db.session.execute(query):
        yield Candidate(contact_id, account_id, timezone, key, not_before)


def _event_candidates(campaign: Campaign, audience: Select, now: dt.datetime):
    """Whoever filed each ticket solved since the campaign began, once per ticket, not before
    `delay_hours` after the solve (or now, when that has passed).

    Tickets are read by when a sync stored them, not by when they were solved: the helpdesk
    syncs hourly and planning runs every few minutes, so a ticket solved before the last run
    often arrives after it. A ticket seen again (re-synced, or inside SYNC_LAG) that already
    holds an invitation or a skip of this campaign is left alone.
    """
    from integrations.models import SupportTicket

    since = (campaign.last_planned_at or campaign.created_at) - SYNC_LAG
    contacts = audience.add_columns(Contact.email).subquery()
    query = (
        select(
            contacts.c.id,
            contacts.c.account_id,
            contacts.c.timezone,
            SupportTicket.id.label("ticket_id"),
            SupportTicket.solved_at,
        )
        .join(SupportTicket, SupportTicket.account_id == contacts.c.account_id)
        .where(
            SupportTicket.synced_at > since,
            SupportTicket.solved_at > campaign.created_at,
            SupportTicket.status.in_(SOLVED_STATUSES),
            _is_requester(contacts.c.email, SupportTicket.requester_email),
        )
        .order_by(SupportTicket.solved_at, contacts.c.id)
    )
    rows = db.session.execute(query).all()
    keys = {_ticket_key(row.ticket_id) for row in rows}
    planned = {key for _, key in _already_planned(campaign, keys)}
    delay = dt.timedelta(hours=campaign.delay_hours)
    for contact_id, account_id, timezone, ticket_id, solved_at in rows:
        if _ticket_key(ticket_id) not in planned:
            not_before = max(now, solved_at + delay)
            yield Candidate(contact_id, account_id, timezone, _ticket_key(ticket_id), not_before)


def _ticket_key(ticket_id: int) -> str:
    return f"t{ticket_id}"


def _is_requester(
    contact_email: SQLColumnExpression[str], requester_email: SQLColumnExpression[str | None]
) -> ColumnElement:
    """The contact filed the ticket (emails compared case-insensitively); a ticket whose
    helpdesk names no requester goes to the whole audience of its account instead."""
    return or_(requester_email.is_(None), func.lower(contact_email) == func.lower(requester_email))


def _invite(campaign: Campaign, candidates: list[Candidate], now: dt.datetime) -> PlanResult:
    already = _already_planned(campaign, {c.period_key for c in candidates})
    fresh = [c for c in candidates if (c.contact_id, c.period_key) not in already]
    global_recent, campaign_recent = _recently_surveyed(campaign, now)
    invite: list[Candidate] = []
    skips: list[dict] = []
    for candidate in fresh:
        reason = _skip_reason(campaign, candidate, global_recent, campaign_recent)
        if reason:
            skips.append(_skip_row(campaign, candidate, reason, now))
            continue
        invite.append(candidate)
        global_recent.add(candidate.contact_id)
    result = PlanResult(skipped=_count_reasons(skips))
    insert_ignoring_conflicts(
        SurveySkip.__table__, skips, ["campaign_id", "contact_id", "period_key"]
    )
    result.invited = _insert_invitations(campaign, invite, now)
    return result


def _already_planned(campaign: Campaign, keys: set[str]) -> set[tuple[int, str]]:
    """(contact, period) pairs of this campaign that already hold an invitation or a skip."""
    pairs: set[tuple[int, str]] = set()
    key_list = sorted(keys)
    for model in (Invitation, SurveySkip):
        for start in range(0, len(key_list), 1000):
            query = select(model.contact_id, model.period_key).where(
                model.campaign_id == campaign.id,
                model.period_key.in_(key_list[start : start + 1000]),
            )
            pairs.update((contact, period) for contact, period in db.session.execute(query))
    return pairs


def _recently_surveyed(
    campaign: Campaign, now: dt.datetime, contact_id: int | None = None
) -> tuple[set[int], set[int]]:
    """Contacts inside the global fatigue window, and inside this campaign's throttle window;
    with `contact_id`, that contact only (if at all)."""
    global_since = now - dt.timedelta(days=current_app.config["SURVEY_FATIGUE_DAYS"])
    campaign_since = now - dt.timedelta(days=campaign.throttle_days)
    live: list[ColumnElement[bool]] = [Invitation.status.not_in(("cancelled", "failed"))]
    only: list[ColumnElement[bool]] = []
    if contact_id is not None:
        live.append(Invitation.contact_id == contact_id)
        only.append(Contact.id == contact_id)
    global_recent = set(
        db.session.scalars(
            select(Invitation.contact_id).where(*live, Invitation.created_at >= global_since)
        )
    )
    global_recent.update(
        db.session.scalars(
            select(Contact.id).where(*only, Contact.last_surveyed_at >= global_since)
        )
    )
    campaign_recent = set(
        db.session.scalars(
            select(Invitation.contact_id).where(
                *live,
                Invitation.campaign_id == campaign.id,
                Invitation.created_at >= campaign_since,
            )
        )
    )
    return global_recent, campaign_recent


def _skip_reason(
    campaign: Campaign, candidate: Candidate, global_recent: set[int], campaign_recent: set[int]
) -> str | None:
    """Why the candidate is not invited, or None. The sample comes first: whoever is outside it
    was never to be asked this period, however recently they were surveyed."""
    if not in_sample(
        campaign.id, candidate.contact_id, candidate.period_key, campaign.sample_percent
    ):
        return "not_sampled"
    return _fatigue_reason(candidate.contact_id, global_recent, campaign_recent)


def _fatigue_reason(contact_id: int, global_recent: set[int], campaign_recent: set[int]):
    if contact_id in campaign_recent:
        return "campaign_throttle"
    if contact_id in global_recent:
        return "global_fatigue"
    return None


def _skip_row(campaign: Campaign, candidate: Candidate, reason: str, now: dt.datetime) -> dict:
    return {
        "campaign_id": campaign.id,
        "contact_id": candidate.contact_id,
        "period_key": candidate.period_key,
        "reason": reason,
        "created_at": now,
    }


def _count_reasons(skips: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for skip in skips:
        counts[skip["reason"]] = counts.get(skip["reason"], 0) + 1
    return counts


def _insert_invitations(
    campaign: Campaign, invite: list[Candidate], now: dt.datetime, *, immediately: bool = False
) -> int:
    """Insert invitations (skipping any a concurrent run made) and their outbox emails, due in
    each contact's send window, or at `not_before` itself when `immediately`."""
    if not invite:
        return 0
    secret = current_app.config["SECRET_KEY"]
    window = campaign_window(campaign)
    per_day = daily_quota(len(invite), campaign.daily_cap, campaign.spread_days)
    rows = []
    for position, candidate in enumerate(invite):
        day = drip_day(position, per_day)
        scheduled = candidate.not_before
        if not immediately:
            scheduled = send_time(scheduled, candidate.timezone, window, candidate.contact_id, day)
        salt = new_salt()
        rows.append(
            {
                "campaign_id": campaign.id,
                "contact_id": candidate.contact_id,
                "account_id": candidate.account_id,
                "period_key": candidate.period_key,
                "token_salt": salt,
                "token_hash": hash_token(derive_token(secret, salt)),
                "status": "scheduled",
                "scheduled_for": scheduled,
                "expires_at": scheduled + dt.timedelta(days=campaign.expiry_days),
                "reminders_sent": 0,
                "created_at": now,
            }
        )
    inserted = _insert_returning(rows)
    enqueue_many(
        [
            {
                "kind": "email",
                "payload": {"template": "invitation", "invitation_id": invitation_id},
                "dedupe_key": f"invitation:{invitation_id}:0",
                "next_attempt_at": scheduled_for,
            }
            for invitation_id, scheduled_for in inserted
        ]
    )
    return len(inserted)


def _insert_returning(rows: list[dict]) -> list[tuple[int, dt.datetime]]:
    return insert_ignoring_conflicts(
        Invitation.__table__,
        rows,
        ["campaign_id", "contact_id", "period_key"],
        returning=("id", "scheduled_for"),
    )


# Period keys of invitations asked for by a caller (the API): "api:<reference>", or with no
# reference "api:~<random>", which no reference can spell, so only a reference makes a retry safe.
API_PERIOD_PREFIX = "api:"


@dataclass(frozen=True)
class InviteOutcome:
    """What invite_contact did: the invitation it `created`, or the one an earlier call with the
    same reference made; or none, and the reason (a SKIP_REASONS value) that kept it from one."""

    invitation: Invitation | None = None
    created: bool = False
    refused: str | None = None


def invite_contact(
    campaign: Campaign,
    contact: Contact,
    reference: str | None,
    now: dt.datetime | None = None,
    *,
    immediately: bool = False,
    ignore_fatigue: bool = False,
) -> InviteOutcome:
    """Invite one named contact through `campaign` (a caller's trigger, e.g. a closed deal), in
    the campaign's send window in the contact's time zone, or `immediately`, by the planning
    run's own insert (single-use token, outbox email, reminders). The campaign lends its survey,
    window, throttle, expiry and reminders; its audience rule, sample and schedule do not apply.

    A reference used before for this campaign and contact gives back that invitation. Refused:
    a paused campaign, an unsubscribed or bouncing contact (always), and a contact inside the
    global fatigue window or the campaign's throttle (unless `ignore_fatigue`). Flushes; the
    caller commits."""
    now = now or utcnow()
    key = API_PERIOD_PREFIX + (reference or f"~{secrets.token_hex(8)}")
    earlier = _invitation_of(campaign, contact, key)
    if earlier is not None:
        return InviteOutcome(earlier)
    reason = _refusal(campaign, contact, now, ignore_fatigue)
    if reason is not None:
        return InviteOutcome(refused=reason)
    candidate = Candidate(contact.id, contact.account_id, contact.timezone, key, now)
    created = _insert_invitations(campaign, [candidate], now, immediately=immediately) == 1
    return InviteOutcome(_invitation_of(campaign, contact, key), created=created)


def _invitation_of(campaign: Campaign, contact: Contact, key: str) -> Invitation | None:
    return db.session.scalar(
        select(Invitation).where(
            Invitation.campaign_id == campaign.id,
            Invitation.contact_id == contact.id,
            Invitation.period_key == key,
        )
    )


def _refusal(
    campaign: Campaign, contact: Contact, now: dt.datetime, ignore_fatigue: bool
) -> str | None:
    """Why the contact may not be invited now, or None; fatigue only counts unless ignored."""
    if campaign.status != "active":
        return "paused"
    if contact.unsubscribed_at is not None:
        return "unsubscribed"
    if contact.bounced_at is not None:
        return "bounced"
    if ignore_fatigue:
        return None
    return _fatigue_reason(contact.id, *_recently_surveyed(campaign, now, contact.id))


@dataclass(frozen=True)
class Reminder:
    invitation_id: int
    number: int  # 1 for the first reminder
    send_at: dt.datetime


def plan_reminders(now: dt.datetime | None = None) -> int:
    """Queue the next reminder of every unanswered, unexpired invitation that is due one."""
    now = now or utcnow()
    due = _reminders_due(now)
    enqueue_many(
        [
            {
                "kind": "email",
                "payload": {
                    "template": "reminder",
                    "invitation_id": reminder.invitation_id,
                    "number": reminder.number,
                },
                "dedupe_key": f"invitation:{reminder.invitation_id}:{reminder.number}",
                "next_attempt_at": reminder.send_at,
            }
            for reminder in due
        ]
    )
    ids = [reminder.invitation_id for reminder in due]
    for start in range(0, len(ids), 1000):
        db.session.execute(
            update(Invitation)
            .where(Invitation.id.in_(ids[start : start + 1000]))
            .values(reminders_sent=Invitation.reminders_sent + 1, last_reminded_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(due)


def _reminders_due(now: dt.datetime) -> list[Reminder]:
    """The reminders due now, each placed in the contact's next send window as the first send
    was (a reminder queued at 3 a.m. local time would wait there, unread, like an invitation)."""
    last_touch = func.coalesce(Invitation.last_reminded_at, Invitation.sent_at).label("touched")
    query = (
        select(
            Invitation.id,
            Invitation.contact_id,
            Invitation.reminders_sent,
            last_touch,
            Contact.timezone,
            Campaign,
        )
        .join(Campaign, Campaign.id == Invitation.campaign_id)
        .join(Contact, Contact.id == Invitation.contact_id)
        .where(
            Invitation.status == "sent",
            Invitation.reminders_sent < Campaign.reminders,
            Invitation.expires_at > now,
            Campaign.status == "active",
            and_(Contact.unsubscribed_at.is_(None), Contact.bounced_at.is_(None)),
            or_(Invitation.last_reminded_at.is_(None), Invitation.last_reminded_at < now),
        )
    )
    return [
        Reminder(
            row.id,
            row.reminders_sent + 1,
            send_time(now, row.timezone, campaign_window(row.Campaign), row.contact_id),
        )
        for row in db.session.execute(query)
        if row.touched is not None
        and row.touched <= now - dt.timedelta(days=row.Campaign.reminder_after_days)
    ]
