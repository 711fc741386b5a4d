"""Scheduled work of the scoring package: nightly scoring, weekly retraining."""

from __future__ import annotations

import datetime as dt
import logging

from cs_platform import clock
from cs_platform.extensions import db
from cs_platform.scheduler import JobSpec
from scoring.runs import score_accounts, train_and_commit
from scoring.training import NotEnoughHistoryError

log = logging.getLogger(__name__)


def nightly_scoring(slot: dt.datetime | None = None) -> None:
    """Score every live account as of the slot's business day (BUSINESS_TIMEZONE's date of that
    UTC instant; without a slot, today's) and raise the risk tasks; one commit. A missed night
    made up later scores as of its own day."""
    score_accounts(clock.business_date(slot) if slot else None)
    db.session.commit()


def weekly_retraining() -> None:
    """Train challengers; they replace the active models only if not worse on held-out data."""
    try:
        summary = train_and_commit()
    except NotEnoughHistoryError as error:
        log.info("retraining skipped", extra={"reason": str(error)})
        return
    log.info("models retrained", extra={"summary": summary.describe()})


JOBS = [
    JobSpec(
        "scoring-nightly",
        nightly_scoring,
        "cron",
        {"hour": 2, "minute": 15},
        misfire_grace_time=6 * 3600,
        catch_up="every",
        takes_slot=True,
    ),
    JobSpec(
        "scoring-weekly-retrain",
        weekly_retraining,
        "cron",
        {"day_of_week": "sun", "hour": 3, "minute": 30},
        misfire_grace_time=24 * 3600,
    ),
]
