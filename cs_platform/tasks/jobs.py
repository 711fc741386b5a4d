"""Scheduled work of the tasks package."""

from __future__ import annotations

import datetime as dt
import logging

from cs_platform.extensions import db
from cs_platform.scheduler import JobSpec
from cs_platform.tasks.services import wake_snoozed

log = logging.getLogger(__name__)


def wake_snoozed_tasks() -> None:
    """Reopen the tasks whose snooze ended (hourly, so a new day is picked up soon)."""
    woken = wake_snoozed(dt.date.today())
    db.session.commit()
    if woken:
        log.info("snoozed tasks reopened", extra={"count": woken})


JOBS = [
    JobSpec(
        "tasks-wake-snoozed", "cs_platform.tasks.jobs:wake_snoozed_tasks", "interval", {"hours": 1}
    ),
]
