"""A job module for the test of SCHEDULER_EXTRA_JOB_MODULES: one fixed job, never run."""

from __future__ import annotations

from cs_platform.scheduler import JobSpec


def never_run() -> None:
    """The job's function (the test only declares it)."""


JOBS = [JobSpec("extra-test-job", never_run, "interval", {"hours": 24})]
