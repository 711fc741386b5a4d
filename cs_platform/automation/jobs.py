"""Scheduled work of automation: a run of every rule every few minutes (on the one leader)."""

from __future__ import annotations

import logging

from cs_platform.automation.engine import run_rules
from cs_platform.scheduler import JobSpec

log = logging.getLogger(__name__)
RUN_MINUTES = 10


def run_automation_rules() -> None:
    """Run every enabled rule and the due waits; each rule commits on its own."""
    summary = run_rules()
    if summary.fired or summary.resumed or summary.paused or summary.failed:
        log.info(
            "automation rules ran",
            extra={
                "fired": summary.fired,
                "resumed": summary.resumed,
                "paused": summary.paused,
                "failed": summary.failed,
            },
        )


JOBS = [JobSpec("automation-rules", run_automation_rules, "interval", {"minutes": RUN_MINUTES})]
