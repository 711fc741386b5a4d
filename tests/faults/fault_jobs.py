"""Jobs that the fault tests add to a scheduler process through SCHEDULER_EXTRA_JOB_MODULES.

FAULT_JOBS (comma-separated) picks them: "tick" records every firing with the firing process's
id in PostgreSQL; "tick-file" appends it to the file FAULT_TICK_FILE (any database).
"""

from __future__ import annotations

import os
from pathlib import Path

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


def tick_file() -> None:
    """Append this process's id to FAULT_TICK_FILE (one line, one write: lines never mix)."""
    with Path(os.environ["FAULT_TICK_FILE"]).open("a") as ticks:
        ticks.write(f"{os.getpid()}\n")


_AVAILABLE = {
    "tick": JobSpec("fault-tick", tick, "interval", {"seconds": 1}, 1),
    "tick-file": JobSpec("fault-tick-file", tick_file, "interval", {"seconds": 1}, 1),
}
JOBS = [_AVAILABLE[name] for name in os.environ.get("FAULT_JOBS", "").split(",") if name]
