"""Jobs that the fault tests add to a scheduler process through SCHEDULER_EXTRA_JOB_MODULES.

FAULT_JOBS (comma-separated) picks them: "tick" records every firing with the firing process's
id; "scoring" runs the nightly scoring two seconds after the scheduler starts.
"""

from __future__ import annotations

import datetime as dt
import os

from sqlalchemy import text

from cs_platform.extensions import db
from cs_platform.scheduler import JobSpec

TICK_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS fault_ticks "
    "(id serial PRIMARY KEY, pid integer NOT NULL, fired_at timestamptz NOT NULL)"
)


def tick() -> None:
    """Record one firing of the ticker by this process."""
    db.session.execute(
        text("INSERT INTO fault_ticks (pid, fired_at) VALUES (:pid, clock_timestamp())"),
        {"pid": os.getpid()},
    )
    db.session.commit()


_AVAILABLE = {
    "tick": JobSpec("fault-tick", f"{__name__}:tick", "interval", {"seconds": 1}, 1),
    "scoring": JobSpec(
        "fault-nightly-scoring",
        "scoring.jobs:nightly_scoring",
        "date",
        {"run_date": dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)},
    ),
}
JOBS = [_AVAILABLE[name] for name in os.environ.get("FAULT_JOBS", "").split(",") if name]
