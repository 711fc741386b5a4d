"""Campaign planning, set-wise: audience, sample, fatigue and throttle, drip, invitations and
outbox rows.

`plan_campaign` turns a campaign into invitations, each with an outbox email due at the contact's
send window, in the caller's transaction (the job or request commits). Re-running it is safe: an
invitation is unique per campaign, contact and period in the database, and so is a skip. Reminders
are queued for the contact's send window too, by the same placement as the first send.

Two ways, one set of rules. On PostgreSQL an audience run (recurring or one-off) never brings its
contacts into Python: the decisions (already planned, sample, throttle, fatigue, drip position)
go into a temporary table in one INSERT ... SELECT, and skips, invitations and their outbox emails
are written from it by INSERT ... SELECT, a chunk of invitations per statement. Python adds only
what stays in Python: the send windows, one per time zone and drip day (`schedule.send_slot`),
and the tokens (`tokens.py`: 128 random bits from `secrets`, HMAC'd under SECRET_KEY, which so
never reaches the database). Event runs (a few solved tickets) and SQLite take the rows through
Python (`_invite`), with the same rules; the tests run both.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    LargeBinary,
    MetaData,
    Select,
    SQLColumnExpression,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    text,
    true,
    update,
)

from cs_platform.bulk_writes import insert_ignoring_conflicts, is_postgres
from cs_platform.extensions import db
from cs_platform.models import Account, Contact, utcnow
from cs_platform.outbox import enqueue_many
from surveys.models import Campaign, Invitation, SurveySkip
from surveys.schedule import (
    SPREAD_STEP,
    ScheduleError,
    Window,
    daily_quota,
    drip_day,
    in_sample,
    period_key,
    sample_cutoff,
    send_slot,
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
    if campaign.trigger != "event" and is_postgres():
        result = _plan_in_database(campaign, now)
    else:
        result = _invite(campaign, list(_candidates(campaign, now)), now)
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
    key, not_before = _run_period(campaign, now)
    for contact_id, account_id, timezone in db.session.execute(query):
        yield Candidate(contact_id, account_id, timezone, key, not_before)


def _run_period(campaign: Campaign, now: dt.datetime) -> tuple[str, dt.datetime]:
    """(period key, not before) of an audience run: the period of a recurring campaign, or
    "once", not to be sent before the one-off's send time."""
    key = "once" if campaign.trigger == "one_off" else period_key(now, campaign.period_days)
    return key, max(now, campaign.send_at or now)


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
    global_since, campaign_since = _fatigue_since(campaign, now)
    invitations, contacts = select(Invitation.contact_id), select(Contact.id)
    if contact_id is not None:
        invitations = invitations.where(Invitation.contact_id == contact_id)
        contacts = contacts.where(Contact.id == contact_id)
    global_recent = set(db.session.scalars(invitations.where(*_live_invitations(global_since))))
    global_recent.update(
        db.session.scalars(contacts.where(Contact.last_surveyed_at >= global_since))
    )
    in_campaign = invitations.where(*_live_invitations(campaign_since, campaign))
    return global_recent, set(db.session.scalars(in_campaign))


def _fatigue_since(campaign: Campaign, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Since when an invitation counts for the global fatigue window and this campaign's
    throttle."""
    global_since = now - dt.timedelta(days=current_app.config["SURVEY_FATIGUE_DAYS"])
    return global_since, now - dt.timedelta(days=campaign.throttle_days)


def _live_invitations(
    since: dt.datetime, campaign: Campaign | None = None
) -> list[ColumnElement[bool]]:
    """Invitations made since `since` (by `campaign` only, if given) that were not cancelled
    and did not fail: they count for fatigue and throttle."""
    live = [Invitation.status.not_in(("cancelled", "failed")), Invitation.created_at >= since]
    if campaign is not None:
        live.append(Invitation.campaign_id == campaign.id)
    return live


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


# Planning on PostgreSQL: one row per contact of the run not planned yet, with the reason it is
# skipped (None: invited) and, for the invited, its position in the run (0, 1, ...; the drip
# day is position // per day). Dropped when the transaction ends.
PLAN = Table(
    "survey_plan",
    MetaData(),
    Column("contact_id", Integer),
    Column("account_id", Integer),
    Column("timezone", String(64)),
    Column("reason", String(20)),
    Column("position", Integer, index=True),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
INVITATIONS_PER_STATEMENT = 20_000
TOKEN_BYTES = 48  # a salt (16 bytes) and the sha256 of its token (32), as `_token_bytes` packs

SKIPS_SQL = text(
    """
    INSERT INTO survey_skips (campaign_id, contact_id, period_key, reason, created_at)
    SELECT :campaign_id, contact_id, :period_key, reason, :now
    FROM survey_plan WHERE reason IS NOT NULL
    ON CONFLICT (campaign_id, contact_id, period_key) DO NOTHING
    """
)
# The invitations at positions [start, stop) and their emails, as `_insert_invitations` makes
# them (ids in position order): the time zone's window of the drip day (:slots, from
# `send_slot`), the minute in it of `schedule.spread_minute`, and the salts and token hashes
# packed in :tokens by position.
INVITATIONS_SQL = text(
    """
    WITH slot AS (
      SELECT * FROM jsonb_to_recordset(CAST(:slots AS jsonb))
        AS s(timezone text, day integer, opens timestamp, minutes integer)
    ), token AS (
      SELECT CAST(:tokens AS bytea) AS packed
    ), invited AS (
      INSERT INTO survey_invitations (campaign_id, contact_id, account_id, period_key,
          token_salt, token_hash, status, scheduled_for, expires_at, reminders_sent, created_at)
      SELECT :campaign_id, p.contact_id, p.account_id, :period_key,
             encode(substring(token.packed FROM (p.position - :start) * :token_bytes + 1 FOR 16),
                    'hex'),
             encode(substring(token.packed FROM (p.position - :start) * :token_bytes + 17
                              FOR 32), 'hex'),
             'scheduled', placed.at, placed.at + :expiry, 0, :now
      FROM survey_plan p
      JOIN slot ON slot.timezone = p.timezone AND slot.day = p.position / :per_day
      CROSS JOIN token
      CROSS JOIN LATERAL (
        SELECT slot.opens
               + (p.contact_id::bigint * :spread_step % slot.minutes) * interval '1 minute' AS at
      ) placed
      WHERE p.position >= :start AND p.position < :stop
      ORDER BY p.position
      ON CONFLICT (campaign_id, contact_id, period_key) DO NOTHING
      RETURNING id, scheduled_for
    ), queued AS (
      INSERT INTO outbox_messages (kind, payload, dedupe_key, status, attempts, next_attempt_at,
                                   created_at)
      SELECT 'email', json_build_object('template', 'invitation', 'invitation_id', id),
             format('invitation:%s:0', id), 'pending', 0, scheduled_for, :queued_at
      FROM invited ORDER BY id
      ON CONFLICT (dedupe_key) DO NOTHING
    )
    SELECT count(*) FROM invited
    """
)


def _plan_in_database(campaign: Campaign, now: dt.datetime) -> PlanResult:
    """An audience run planned set-wise in PostgreSQL (see the module docstring)."""
    key, not_before = _run_period(campaign, now)
    _decide(campaign, key, now)
    by_reason = select(PLAN.c.reason, func.count()).group_by(PLAN.c.reason)
    counts: dict[str | None, int] = dict(db.session.execute(by_reason).all())
    invitees = counts.pop(None, 0)
    result = PlanResult(skipped={reason: n for reason, n in counts.items() if reason})
    params = {"campaign_id": campaign.id, "period_key": key, "now": now}
    db.session.execute(SKIPS_SQL, params)
    if invitees:
        result.invited = _insert_planned(campaign, params, not_before, invitees)
    return result


def _insert_planned(
    campaign: Campaign, params: dict, not_before: dt.datetime, invitees: int
) -> int:
    """Insert the plan's `invitees` invitations and their emails, a chunk per statement;
    returns how many were inserted (a concurrent run may have made some)."""
    per_day = daily_quota(invitees, campaign.daily_cap, campaign.spread_days) or invitees
    params = params | {
        "slots": _send_slots(campaign, not_before, per_day),
        "per_day": per_day,
        "expiry": dt.timedelta(days=campaign.expiry_days),
        "spread_step": SPREAD_STEP,
        "token_bytes": TOKEN_BYTES,
        "queued_at": utcnow(),  # as enqueue_many stamps its rows
    }
    step = INVITATIONS_PER_STATEMENT
    chunks = [(start, min(start + step, invitees)) for start in range(0, invitees, step)]
    sizes = [stop - start for start, stop in chunks]
    tokens = _tokens_ahead(current_app.config["SECRET_KEY"], sizes)
    inserted = 0
    for (start, stop), packed in zip(chunks, tokens, strict=True):
        chunk = params | {"start": start, "stop": stop, "tokens": packed}
        inserted += db.session.execute(INVITATIONS_SQL, chunk).scalar_one()
    return inserted


def _decide(campaign: Campaign, key: str, now: dt.datetime) -> None:
    """Fill the plan table: the audience not yet planned for `key`, each contact with the
    reason `_skip_reason` would give, and the invited numbered in contact order."""
    db.session.execute(text("DROP TABLE IF EXISTS pg_temp.survey_plan"))
    PLAN.create(db.session.connection())
    decided = _decisions(campaign, key, now).subquery()
    invited = decided.c.reason.is_(None)
    position = func.row_number().over(partition_by=invited, order_by=decided.c.id) - 1
    rows = select(
        decided.c.id,
        decided.c.account_id,
        decided.c.timezone,
        decided.c.reason,
        case((invited, position)),
    )
    db.session.execute(insert(PLAN).from_select(list(PLAN.c), rows))


def _decisions(campaign: Campaign, key: str, now: dt.datetime) -> Select:
    """The audience's contacts with no invitation or skip for `key`, and why each is skipped:
    the sample first, then the campaign's throttle, then the global fatigue window."""
    global_since, campaign_since = _fatigue_since(campaign, now)
    invited_by = exists().where(Invitation.contact_id == Contact.id)
    reason = case(
        (not_(_sampled(campaign, key)), "not_sampled"),
        (invited_by.where(*_live_invitations(campaign_since, campaign)), "campaign_throttle"),
        (
            or_(
                Contact.last_surveyed_at >= global_since,
                invited_by.where(*_live_invitations(global_since)),
            ),
            "global_fatigue",
        ),
    )
    planned = [
        exists().where(
            model.campaign_id == campaign.id,
            model.contact_id == Contact.id,
            model.period_key == key,
        )
        for model in (Invitation, SurveySkip)
    ]
    query = audience_query(campaign.audience or {}).where(*map(not_, planned))
    return query.add_columns(reason.label("reason"))


def _sampled(campaign: Campaign, key: str) -> ColumnElement[bool]:
    """`schedule.in_sample` in SQL: the first 8 bytes of the same sha256 below the cutoff."""
    if campaign.sample_percent >= 100:
        return true()
    hashed = literal(f"{campaign.id}:{key}:") + cast(Contact.id, String)  # what in_sample hashes
    digest = func.sha256(func.convert_to(hashed, "UTF8"))
    cutoff = bindparam("sample_cutoff", sample_cutoff(campaign.sample_percent), LargeBinary)
    return func.substring(digest, 1, 8) < cutoff


def _send_slots(campaign: Campaign, not_before: dt.datetime, per_day: int) -> str:
    """The send window of each (time zone, drip day) of the run's invitations, as JSON."""
    day = PLAN.c.position // per_day
    pairs = select(PLAN.c.timezone, day).where(PLAN.c.position.is_not(None)).distinct()
    window = campaign_window(campaign)
    slots = []
    for timezone, number in db.session.execute(pairs):
        opens, minutes = send_slot(not_before, timezone, window, number)
        slots.append({"timezone": timezone, "day": number, "opens": opens, "minutes": minutes})
    return json.dumps(slots, default=dt.datetime.isoformat)


def _tokens_ahead(secret: str, sizes: list[int]) -> Iterator[bytes]:
    """The packed tokens of each chunk of `sizes` invitations, the next chunk's made on a thread
    while the database writes this one (the statement releases the GIL while it waits)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        made = deque([pool.submit(_packed_tokens, secret, size) for size in sizes[:1]])
        for size in sizes[1:]:
            made.append(pool.submit(_packed_tokens, secret, size))
            yield made.popleft().result()
        yield from (future.result() for future in made)


def _packed_tokens(secret: str, count: int) -> bytes:
    """`count` new token salts and token hashes, TOKEN_BYTES raw bytes each."""
    return b"".join(_token_bytes(secret) for _ in range(count))


def _token_bytes(secret: str) -> bytes:
    salt = new_salt()
    return bytes.fromhex(salt) + bytes.fromhex(hash_token(derive_token(secret, salt)))


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
