"""Scheduled survey work: campaign runs, event triggers, reminders.

Each recurring or one-off campaign has its own APScheduler job ("survey-campaign-<id>") in the
persistent job store, kept in step with the campaigns table by `sync_campaign_jobs`: jobs are
added or rescheduled only when a campaign's trigger changed, so a run missed during downtime
keeps its due time and fires once (coalesced) after a restart.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.scheduler import JobSpec, run_job, running_scheduler
from surveys.models import Campaign
from surveys.planning import plan_campaign, plan_reminders
from surveys.schedule import validate_cron

log = logging.getLogger(__name__)

JOB_PREFIX = "survey-campaign-"


def run_campaign(campaign_id: int) -> None:
    """One scheduled run of a campaign: plan its invitations and commit."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        return
    plan_campaign(campaign)
    db.session.commit()


def run_event_campaigns() -> None:
    """Plan every active event campaign (solved tickets synced since its last run)."""
    campaigns = db.session.scalars(
        select(Campaign).where(Campaign.trigger == "event", Campaign.status == "active")
    )
    for campaign in campaigns:
        plan_campaign(campaign)
    db.session.commit()


def send_reminders() -> None:
    plan_reminders()
    db.session.commit()


def campaign_trigger(campaign: Campaign):
    """(trigger, signature) of a scheduled campaign, or None when it has no job of its own."""
    if campaign.status != "active":
        return None
    if campaign.trigger == "recurring" and campaign.cron:
        timezone = campaign.timezone or "UTC"
        return validate_cron(campaign.cron, timezone=timezone), f"cron {campaign.cron} {timezone}"
    if campaign.trigger == "one_off" and campaign.send_at and campaign.last_planned_at is None:
        run_date = campaign.send_at.isoformat()
        return DateTrigger(run_date=run_date, timezone="UTC"), f"once {run_date}"
    return None


def sync_campaign_jobs(scheduler: BaseScheduler | None = None) -> None:
    """Make the scheduler's campaign jobs match the campaigns table, touching only changes."""
    scheduler = scheduler or running_scheduler()
    if scheduler is None:
        return
    existing = {job.id: job for job in scheduler.get_jobs() if job.id.startswith(JOB_PREFIX)}
    wanted = set()
    for campaign in db.session.scalars(select(Campaign)):
        scheduled = campaign_trigger(campaign)
        if scheduled is None:
            continue
        trigger, signature = scheduled
        job_id = f"{JOB_PREFIX}{campaign.id}"
        wanted.add(job_id)
        job = existing.get(job_id)
        if job is not None and job.name == signature:
            continue
        scheduler.add_job(
            run_job,
            trigger,
            args=["surveys.jobs:run_campaign", campaign.id],
            id=job_id,
            name=signature,
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=None,  # a run missed during downtime still happens, once
        )
        log.info("campaign job scheduled", extra={"job": job_id, "trigger": signature})
    for job_id in set(existing) - wanted:
        scheduler.remove_job(job_id)


JOBS = [
    JobSpec("surveys-sync-campaign-jobs", sync_campaign_jobs, "interval",
            {"minutes": 1}, misfire_grace_time=60),
    JobSpec("surveys-event-campaigns", run_event_campaigns, "interval",
            {"minutes": 15}),
    JobSpec("surveys-reminders", send_reminders, "interval", {"hours": 1}),
]  # fmt: skip
