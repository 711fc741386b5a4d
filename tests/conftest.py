"""Shared fixtures: one app per test session on SQLite, or on a fresh PostgreSQL database when
TEST_DATABASE_URL is set. Every test starts with empty tables."""

from __future__ import annotations

import contextvars
import os
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from flask import Flask
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from cs_platform import create_app
from cs_platform.auth.services import create_user
from cs_platform.config import normalise_database_url
from cs_platform.extensions import db, limiter
from cs_platform.models import AuditEntry, User

# The whole suite runs on a host clock west of UTC (set before any test reads it; inherited by
# subprocesses), so code reading the host's local date (`date.today()`, naive `datetime.now()`)
# instead of cs_platform.clock disagrees with UTC job times for part of every day, and fails
# the tests that pin the clock to such an hour (tests/cs_platform/test_clock.py).
os.environ["TZ"] = "America/Los_Angeles"
time.tzset()

PASSWORD = "correct horse battery staple"


SIGN_IN_ACTIONS = ("login.succeeded", "login.failed", "logout")


def flushed_redis(url: str) -> redis.Redis:
    """A client of the local Redis database at `url`, emptied; the test is skipped when Redis is
    not running, and fails under CI, which runs Redis."""
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not running at {url}; CI runs the Redis tests")
        pytest.skip(f"Redis is not running at {url}")
    client.flushdb()
    return client


def audit_trail(sign_ins: bool = False) -> list[AuditEntry]:
    """Every audit entry, oldest first (what the tests of audited actions look at); the sign-ins
    that test fixtures make are left out unless asked for."""
    db.session.expire_all()
    query = select(AuditEntry).order_by(AuditEntry.id)
    if not sign_ins:
        query = query.where(AuditEntry.action.not_in(SIGN_IN_ACTIONS))
    return list(db.session.scalars(query))


def postgres_server_url() -> str | None:
    raw = os.environ.get("TEST_DATABASE_URL")
    return normalise_database_url(raw) if raw else None


def create_scratch_database(server_url: str) -> str:
    """Create an empty PostgreSQL database next to `server_url` and return its URL."""
    name = f"cs_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means PostgreSQL is not usable
        message = f"TEST_DATABASE_URL is set but PostgreSQL is unreachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.exit(message, returncode=3)
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_scratch_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def scratch_database_url(tmp_path_factory) -> Iterator[Callable[[], str]]:
    """A factory of empty databases of the session's kind, dropped at the end of the session."""
    server = postgres_server_url()
    created: list[str] = []

    def make() -> str:
        if server is None:
            url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        else:
            url = create_scratch_database(server)
        created.append(url)
        return url

    yield make
    if server is not None:
        for url in created:
            drop_scratch_database(server, url)


class IsolatedClient(FlaskClient):
    """A test client whose every request gets its own app context, `g` and DB session, as in
    production, even though the tests keep an app context pushed for their own queries."""

    def open(self, *args, **kwargs):
        return contextvars.copy_context().run(self._open_in_fresh_app_context, *args, **kwargs)

    def _open_in_fresh_app_context(self, *args, **kwargs):
        _cv_app.set(None)  # type: ignore[arg-type] - makes Flask push a new app context
        return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def app(scratch_database_url, tmp_path_factory) -> Iterator[Flask]:
    """The application, with its schema created and an app context pushed for the session."""
    instance = tmp_path_factory.mktemp("instance")
    application = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": scratch_database_url(),
            "WTF_CSRF_ENABLED": False,
            "LOGIN_RATE_LIMIT": "1000 per minute",
            "LOGIN_ADDRESS_RATE_LIMIT": "1000 per minute",
            "LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute",
            "PASSWORD_RESET_RATE_LIMIT": "1000 per minute",
            "SCHEDULER_ENABLED": False,
            "MAIL_TRANSPORT": "file",
            "MAIL_DIR": str(instance / "mail"),
        },
        instance_path=str(instance),
    )
    application.test_client_class = IsolatedClient
    with application.app_context():
        db.create_all()
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def empty_tables(request) -> Iterator[None]:
    """Every test that uses the app starts and ends with empty tables and fresh rate limits."""
    if "app" not in request.fixturenames:
        yield
        return
    app: Flask = request.getfixturevalue("app")
    yield
    db.session.remove()
    tables = [table.name for table in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as connection:
        if db.engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{name}"' for name in tables)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                connection.execute(text(f'DELETE FROM "{name}"'))
    limiter.reset()
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    """Create and commit a user whose password is PASSWORD."""

    def make(role: str = "csm", email: str | None = None, name: str = "Casey Morgan") -> User:
        user = create_user(
            email or f"{role}-{uuid.uuid4().hex[:6]}@example.com", name, role, PASSWORD
        )
        db.session.commit()
        return user

    return make


@pytest.fixture
def login(client: FlaskClient) -> Callable[[User], FlaskClient]:
    """Sign a user in through the real login form; returns the signed-in client."""

    def sign_in(user: User) -> FlaskClient:
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.text
        return client

    return sign_in


@pytest.fixture
def csm_client(make_user, login) -> FlaskClient:
    return login(make_user("csm"))


@pytest.fixture
def csrf_enabled(app: Flask) -> Iterator[None]:
    """Turn CSRF protection on for one test, as it is in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    yield
