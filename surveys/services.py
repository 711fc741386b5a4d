"""What the survey admin pages do: save a survey or a campaign, preview a campaign's next sends,
send a test email, pause or resume a campaign. Each takes plain values (a form's `data`) and the
user acting, whom the audit log names.

Unlike most services these commit: a campaign's scheduler job (`sync_campaign_jobs`) can only
follow a committed change, and none of the pages saves anything else with them."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

from cs_platform.audit import record_edit
from cs_platform.extensions import db
from cs_platform.models import User
from cs_platform.outbox import OutboxMessage, enqueue
from surveys.jobs import sync_campaign_jobs
from surveys.models import Campaign, Survey
from surveys.planning import AUDIENCE_FIELDS, CampaignError, validate_campaign
from surveys.schedule import ScheduleError, next_fire_times
from surveys.texts import LOCALES

SURVEY_FIELDS = ("name", "kind", "default_locale", "product_name", "sender_name")
FOLLOW_UP_BANDS = ("detractor", "passive", "promoter")
CAMPAIGN_FIELDS = (
    "name", "survey_id", "trigger", "period_days", "delay_hours", "send_at",
    "window_start_hour", "window_end_hour", "weekdays_only", "throttle_days", "sample_percent",
    "daily_cap", "spread_days", "reminders", "reminder_after_days", "expiry_days", "timezone",
)  # fmt: skip


def save_survey(survey: Survey, data: Mapping[str, Any], user: User) -> Survey:
    """Create or change `survey` from `data` (the survey form's fields: `question_<locale>` per
    language, `follow_up_<band>` for the default language) and commit, audited as `user`."""
    new = survey.id is None
    for field in SURVEY_FIELDS:
        setattr(survey, field, data[field])
    survey.brand_colour = data["brand_colour"].lower()
    survey.texts = survey_texts(survey, data)
    db.session.add(survey)
    record_edit("survey.created" if new else "survey.updated", survey.name, survey, user)
    db.session.commit()
    return survey


def survey_texts(survey: Survey, data: Mapping[str, Any]) -> dict:
    """The survey's texts JSON with the questions and follow-ups of `data`; an empty one falls
    back to the built-in text."""
    texts = {locale: dict(value) for locale, value in (survey.texts or {}).items()}
    for locale in LOCALES:
        question = (data.get(f"question_{locale}") or "").strip()
        texts.setdefault(locale, {})["question"] = question
    follow_up = {band: (data.get(f"follow_up_{band}") or "").strip() for band in FOLLOW_UP_BANDS}
    texts[data["default_locale"]]["follow_up"] = follow_up
    return texts


def save_campaign(campaign: Campaign, data: Mapping[str, Any], user: User) -> Campaign:
    """Create or change `campaign` from `data`, audited as `user`, commit, and bring the
    campaign's scheduler job in step. CampaignError, with nothing saved, for a campaign that
    cannot run (a rule that never fires, an empty audience, ...)."""
    _apply_campaign(campaign, data, user)
    db.session.add(campaign)
    db.session.commit()
    sync_campaign_jobs()
    return campaign


def preview_campaign_sends(
    campaign: Campaign, data: Mapping[str, Any], user: User
) -> list[dt.datetime]:
    """The next sends `campaign` would make with `data`, checked as a save is (CampaignError);
    nothing is saved."""
    _apply_campaign(campaign, data, user)
    sends = upcoming_sends(campaign)
    db.session.rollback()
    return sends


def _apply_campaign(campaign: Campaign, data: Mapping[str, Any], user: User) -> None:
    """Put `data` (the campaign form's fields, `cron` the rule its schedule stands for) on
    `campaign`, audit the change and validate it; CampaignError, the session rolled back, for a
    campaign that cannot run."""
    new = campaign.id is None
    for field in CAMPAIGN_FIELDS:
        setattr(campaign, field, data[field])
    campaign.event = data.get("event") or None
    campaign.cron = data.get("cron") if campaign.trigger == "recurring" else None
    campaign.audience = {key: data[key] for key in AUDIENCE_FIELDS if data.get(key)}
    campaign.status = campaign.status or "active"
    # Before validation's queries autoflush the edit away (a refused edit rolls it back).
    record_edit("campaign.created" if new else "campaign.updated", campaign.name, campaign, user)
    try:
        validate_campaign(campaign)
    except CampaignError:
        db.session.rollback()
        raise


def upcoming_sends(campaign: Campaign) -> list[dt.datetime]:
    """The next five times a recurring campaign's rule fires, in its time zone; none for a bad
    rule."""
    if not campaign.cron:
        return []
    now, timezone = dt.datetime.now(dt.UTC), campaign.timezone or "UTC"
    try:
        return next_fire_times(campaign.cron, 5, now, timezone)
    except ScheduleError:
        return []


def send_test_email(campaign: Campaign, user: User) -> OutboxMessage:
    """Queue a test email of the campaign to `user` and commit; each call sends another."""
    payload = {"template": "test", "campaign_id": campaign.id, "to": user.email, "name": user.name}
    message = enqueue("email", payload, f"test:{campaign.id}:{user.id}:{secrets.token_hex(6)}")
    db.session.commit()
    return message


def set_campaign_paused(campaign: Campaign, paused: bool, user: User) -> None:
    """Pause (queued mail waits, no new runs) or resume the campaign, audited as `user`; commit
    and bring its scheduler job in step."""
    campaign.status = "paused" if paused else "active"
    record_edit(f"campaign.{'paused' if paused else 'resumed'}", campaign.name, campaign, user)
    db.session.commit()
    sync_campaign_jobs()
