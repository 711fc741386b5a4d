"""The login rate limit is one budget across web processes when its counters live in Redis."""

from __future__ import annotations

import re

import pytest
import requests

from tests.conftest import flushed_redis
from tests.faults.conftest import FaultDatabase, Processes, free_port, wait_for

REDIS_DB = 13  # a database of its own, flushed by the test
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def redis_db():
    client = flushed_redis(REDIS_URL)
    yield client
    client.flushdb()
    client.close()


def start_web(processes: Processes, db: FaultDatabase, name: str, storage: str) -> str:
    """A web process of the deployment; returns its base URL once it answers."""
    port = free_port()
    env = db.env(RATELIMIT_STORAGE_URI=storage, LOGIN_RATE_LIMIT="3 per minute")
    processes.start(name, ["run", "--host", "127.0.0.1", "--port", str(port)], env)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return requests.get(f"{base}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    wait_for(answers, 90, f"{name} to answer")
    return base


def failed_logins(bases: list[str], attempts: int) -> list[int]:
    """POST wrong passwords (with a valid CSRF token) to the servers in turn; the statuses."""
    sessions = {base: requests.Session() for base in bases}
    tokens = {
        base: CSRF_FIELD.search(session.get(f"{base}/login", timeout=10).text).group(1)
        for base, session in sessions.items()
    }
    statuses = []
    for attempt in range(attempts):
        base = bases[attempt % len(bases)]
        form = {"csrf_token": tokens[base], "email": "x@example.com", "password": "wrong-guess"}
        statuses.append(sessions[base].post(f"{base}/login", data=form, timeout=10).status_code)
    for session in sessions.values():
        session.close()
    return statuses


def test_two_web_processes_share_one_login_budget_through_redis(any_db, processes, redis_db):
    bases = [start_web(processes, any_db, f"web-{n}", REDIS_URL) for n in (1, 2)]
    assert failed_logins(bases, 5) == [401, 401, 401, 429, 429]
    assert redis_db.dbsize() > 0


def test_without_redis_each_web_process_counts_alone(any_db, processes):
    bases = [start_web(processes, any_db, f"web-{n}", "memory://") for n in (1, 2)]
    assert failed_logins(bases, 6) == [401] * 6  # 3 per process: neither has reached its limit
