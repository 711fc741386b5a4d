"""Scheduled work of the tasks package."""

from __future__ import annotations

import logging

from flask import current_app

from cs_platform import clock
from cs_platform.extensions import db
from cs_platform.scheduler import JobSpec
from cs_platform.tasks.services import open_renewal_tasks, wake_snoozed

log = logging.getLogger(__name__)


def wake_snoozed_tasks() -> None:
    """Reopen the tasks whose snooze ended (hourly, so a new day is picked up soon)."""
    woken = wake_snoozed(clock.today())
    db.session.commit()
    if woken:
        log.info("snoozed tasks reopened", extra={"count": woken})


def open_renewal_prep_tasks() -> None:
    """Open the prep task of each renewal entering the window (RENEWAL_TASK_DAYS before it);
    daily, and safe to run again: a renewal gets one task."""
    window = current_app.config["RENEWAL_TASK_DAYS"]
    opened = open_renewal_tasks(clock.today(), window)
    db.session.commit()
    if opened:
        log.info("renewal tasks opened", extra={"count": len(opened), "window_days": window})


JOBS = [
    JobSpec("tasks-wake-snoozed", wake_snoozed_tasks, "interval", {"hours": 1}),
    JobSpec(
        "tasks-renewal-prep",
        open_renewal_prep_tasks,
        "cron",
        {"hour": 6, "minute": 0},
        misfire_grace_time=24 * 3600,
    ),
]
