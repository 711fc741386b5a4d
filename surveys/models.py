"""Survey definitions, campaigns, invitations, skips and the responses customers gave."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cs_platform.extensions import Model
from cs_platform.models import Account, Contact, in_check, utcnow
from surveys.survey_metrics import BAND_LIMITS, SCORE_RANGES

SURVEY_KINDS = tuple(SCORE_RANGES)
# (worst detractor score, first promoter score) of NPS, for features that read NPS alone.
NPS_LIMITS = BAND_LIMITS["nps"]
CAMPAIGN_STATUSES = ("active", "paused")
TRIGGERS = ("recurring", "event", "one_off")
EVENTS = ("ticket_solved",)
INVITATION_STATUSES = ("scheduled", "sent", "answered", "cancelled", "bounced", "failed")
SKIP_REASONS = (
    "global_fatigue", "campaign_throttle", "unsubscribed", "bounced", "paused", "not_sampled",
)  # fmt: skip

_SCORE_IN_RANGE = " OR ".join(
    f"(kind = '{kind}' AND score BETWEEN {low} AND {high})"
    for kind, (low, high) in SCORE_RANGES.items()
)


class Survey(Model):
    __tablename__ = "surveys"
    __table_args__ = (CheckConstraint(in_check("kind", SURVEY_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(8))
    default_locale: Mapped[str] = mapped_column(String(8), default="en")
    # {locale: {"subject", "reminder_subject", "question", "thank_you",
    #           "follow_up": {"detractor": ..., "passive": ..., "promoter": ...}}}
    # Missing keys fall back to the default locale, then to surveys.texts.DEFAULT_TEXTS.
    texts: Mapped[dict] = mapped_column(JSON, default=dict)
    product_name: Mapped[str] = mapped_column(String(120), default="our product")
    sender_name: Mapped[str] = mapped_column(String(120), default="Customer Success")
    brand_colour: Mapped[str] = mapped_column(String(7), default="#3354d1")  # "#rrggbb"
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Campaign(Model):
    """Who gets a survey and when: audience rule, sample, trigger, send window, throttle, drip,
    reminders."""

    __tablename__ = "survey_campaigns"
    __table_args__ = (
        CheckConstraint(in_check("status", CAMPAIGN_STATUSES), name="status"),
        CheckConstraint(in_check("trigger", TRIGGERS), name="trigger"),
        CheckConstraint("window_start_hour >= 0 AND window_end_hour <= 24", name="window"),
        CheckConstraint("window_start_hour < window_end_hour", name="window_order"),
        CheckConstraint("sample_percent BETWEEN 1 AND 100", name="sample_percent"),
        CheckConstraint("spread_days IS NULL OR spread_days >= 1", name="spread_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(8), default="active")
    # {"segments": [...], "lifecycle_stages": [...], "roles": [...], "plans": [...]}; empty = all.
    audience: Mapped[dict] = mapped_column(JSON, default=dict)
    trigger: Mapped[str] = mapped_column(String(10), default="recurring")
    # recurring: a 5-field crontab of the planning runs, in `timezone`; an invitation per
    # period_days.
    cron: Mapped[str | None] = mapped_column(String(64))
    # IANA zone the crontab's hours are read in (summer time included).
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    period_days: Mapped[int] = mapped_column(default=90)
    event: Mapped[str | None] = mapped_column(String(32))  # event trigger, e.g. ticket_solved
    delay_hours: Mapped[int] = mapped_column(default=24)
    send_at: Mapped[dt.datetime | None]  # one-off trigger
    # Send window in the contact's own time zone.
    window_start_hour: Mapped[int] = mapped_column(default=9)
    window_end_hour: Mapped[int] = mapped_column(default=11)
    weekdays_only: Mapped[bool] = mapped_column(default=True)
    throttle_days: Mapped[int] = mapped_column(default=90)  # per-campaign fatigue rule
    # Share of the audience asked each period, picked by surveys.schedule.in_sample; the rest
    # are recorded as "not_sampled" skips.
    sample_percent: Mapped[int] = mapped_column(default=100)
    daily_cap: Mapped[int | None]  # drip: at most this many invitations per day
    spread_days: Mapped[int | None]  # drip: a run's invitations over this many sending days
    reminders: Mapped[int] = mapped_column(default=1)
    reminder_after_days: Mapped[int] = mapped_column(default=5)
    expiry_days: Mapped[int] = mapped_column(default=30)
    # Watermark of the last planning run (event campaigns read tickets synced after it, less
    # surveys.planning.SYNC_LAG).
    last_planned_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    survey: Mapped[Survey] = relationship()


class Invitation(Model):
    """One contact invited once by one campaign in one period; the token is stored hashed."""

    __tablename__ = "survey_invitations"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", "period_key"),
        CheckConstraint(in_check("status", INVITATION_STATUSES), name="status"),
        Index("ix_survey_invitations_contact_created", "contact_id", "created_at"),
        Index("ix_survey_invitations_status_sent", "status", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("survey_campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # "p<n>" for the n-th period of a recurring campaign, "t<id>" per ticket, "once" for one-off,
    # "api:<reference>" for an API call (surveys.planning.invite_contact).
    period_key: Mapped[str] = mapped_column(String(80))
    # sha256 of the link token; the token itself is derived from SECRET_KEY and token_salt.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_salt: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(10), default="scheduled")
    scheduled_for: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    reminders_sent: Mapped[int] = mapped_column(default=0)
    last_reminded_at: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    campaign: Mapped[Campaign] = relationship()
    contact: Mapped[Contact] = relationship()
    account: Mapped[Account] = relationship()


class SurveySkip(Model):
    """A contact the audience held but a rule kept from being surveyed, with the reason."""

    __tablename__ = "survey_skips"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", "period_key"),
        CheckConstraint(in_check("reason", SKIP_REASONS), name="reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("survey_campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    period_key: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SurveyResponse(Model):
    __tablename__ = "survey_responses"
    __table_args__ = (
        CheckConstraint(in_check("kind", SURVEY_KINDS), name="kind"),
        CheckConstraint(_SCORE_IN_RANGE, name="score_in_range"),
        Index("ix_survey_responses_account_responded", "account_id", "responded_at"),
        Index("ix_survey_responses_responded", "responded_at"),
        Index("ix_survey_responses_changed", "changed_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    # One response per invitation; null for answers imported from elsewhere.
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("survey_invitations.id", ondelete="SET NULL"), unique=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # Null once a contact is erased: the anonymous score still counts in the metrics.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(8))  # copied from the survey for set-wise metrics
    score: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None]  # the latest change of score or comment, if any
    # The latest change of any kind, the answer itself included: what `updated_since` pulls by.
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    survey: Mapped[Survey] = relationship()
    account: Mapped[Account] = relationship()
    contact: Mapped[Contact | None] = relationship()
    invitation: Mapped[Invitation | None] = relationship()


def detractor_answer() -> ColumnElement[bool]:
    """SQL for a survey response whose score is a detractor's for its kind (NPS 0-6, CSAT 1-2,
    CES 1-3: surveys.survey_metrics.BAND_LIMITS, the same cut-offs as is_detractor)."""
    return or_(
        *(
            and_(SurveyResponse.kind == kind, SurveyResponse.score <= worst)
            for kind, (worst, _) in BAND_LIMITS.items()
        )
    )
