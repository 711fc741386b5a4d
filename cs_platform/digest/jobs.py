"""Scheduled work of the digest: every 15 minutes, the digests whose local morning has come."""

from __future__ import annotations

import logging

from flask import current_app

from cs_platform.digest.sending import send_due_digests
from cs_platform.extensions import db
from cs_platform.scheduler import JobSpec

log = logging.getLogger(__name__)


def send_morning_digests() -> None:
    """Queue the digests due now (DIGEST_ENABLED off: none)."""
    if not current_app.config["DIGEST_ENABLED"]:
        return
    counts = send_due_digests()
    db.session.commit()
    if any(counts.values()):
        log.info("daily digests", extra=counts)


JOBS = [JobSpec("digest-mornings", send_morning_digests, "interval", {"minutes": 15})]
