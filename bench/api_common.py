"""Shared parts of the benchmarks that serve the app: a scratch PostgreSQL database, ports,
gunicorn and a clean exit."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one benchmark, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://...) as psycopg.connect takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def add_port_option(
    parser: argparse.ArgumentParser, flag: str = "--port", what: str = "app"
) -> None:
    """A `flag` option for the port a server the benchmark starts listens on; 0 (the default)
    picks a free one (`port_or_free`)."""
    parser.add_argument(
        flag, type=int, default=0, help=f"port the {what} listens on (default: a free one)"
    )


def port_or_free(port: int) -> int:
    return port or free_port()


@contextmanager
def gunicorn(
    target: str,
    env: dict[str, str],
    workers: int,
    ready_path: str,
    port: int = 0,
    *,
    threads: int = 1,
) -> Iterator[str]:
    """gunicorn serving `target` (module:app, from the repository root or bench/) on `port`
    (0: a free one) with `workers` processes of `threads` threads (sync workers for 1, gthread
    above); yields its base URL once `ready_path` answers, and stops it on leaving, failures
    included."""
    port = port_or_free(port)
    command = [
        str(ROOT / ".venv/bin/gunicorn"),
        "--workers", str(workers),
        "--threads", str(threads),
        "--bind", f"127.0.0.1:{port}",
        "--log-level", "warning",
        "--pythonpath", str(ROOT / "bench"),
        target,
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 - our own command line
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{base}{ready_path}", process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    """Poll `url` until it answers 2xx (workers that import pandas take seconds each); exit if
    gunicorn stops or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        try:
            if requests.get(url, timeout=10).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit("gunicorn did not come up")


def exit_cleanly_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit, so a benchmark stopped from outside still
    leaves its `with` blocks: servers stopped, temporary folders and databases removed (Ctrl-C
    already does, as KeyboardInterrupt)."""

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, leave)


def health_scores_sql(keep: str = "TRUE") -> str:
    """INSERT of :days nightly health scores per account (two drivers each, updated_at spread
    over the night so pages are realistic), for the rows `keep` (SQL on a, d) lets through."""
    return f"""
    INSERT INTO health_scores (account_id, scored_on, score, band, method, churn_probability,
                               drivers, context, changes, updated_at)
    SELECT a.id, current_date - d, s.score,
           CASE WHEN s.score < 40 THEN 'red' WHEN s.score < 70 THEN 'yellow' ELSE 'green' END,
           'model', 1 - s.score / 100,
           json_build_array(
             json_build_object('feature', 'active_users_change_30d', 'value', -0.4,
                               'contribution', 0.8, 'sentence', 'Active users down 40%'),
             json_build_object('feature', 'open_tickets', 'value', 1, 'contribution', -0.1,
                               'sentence', '1 open ticket')),
           '[]', '{{}}',
           current_date - d + (a.id % 3600) * interval '1 second'
    FROM accounts a
    CROSS JOIN generate_series(0, :days - 1) AS d
    CROSS JOIN LATERAL (
      SELECT greatest(0, least(100, 55 + 40 * sin(a.id) + d * 3 * cos(a.id * 7)))::float AS score
    ) s
    WHERE {keep}
    """
