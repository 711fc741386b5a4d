"""Shared helpers of the integrations benchmarks: a scratch PostgreSQL database and an app."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

ACCOUNTS_SQL = """
    INSERT INTO accounts (name, domain, segment, plan, arr, seats, lifecycle_stage, is_demo,
                          created_at, updated_at)
    SELECT 'Customer ' || g, 'customer' || g || '.example', 'smb', 'growth', 10000, 10,
           'mature', true, now(), now()
    FROM generate_series(1, :accounts) AS g
"""


@contextlib.contextmanager
def scratch_app(accounts: int) -> Iterator:
    """An app on a fresh PostgreSQL database with `accounts` accounts; dropped afterwards."""
    from cs_platform import create_app
    from cs_platform.extensions import db

    server = os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER)
    name = f"cs_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as instance:
            app = create_app(
                {"SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING",
                 "INGEST_RATE_LIMIT": "1000000 per minute",
                 # the fake vendors serve on this machine: allowed as an on-premises host
                 "INTEGRATIONS_ALLOWED_HOSTS": ["127.0.0.1"],
                 "INTEGRATIONS_ALLOW_PRIVATE_HOSTS": True},
                instance_path=instance,
            )  # fmt: skip
            with app.app_context():
                db.create_all()
                db.session.execute(text(ACCOUNTS_SQL), {"accounts": accounts})
                db.session.commit()
                yield app
                db.session.remove()
                db.engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
