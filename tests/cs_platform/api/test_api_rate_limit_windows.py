"""The limiter's fixed window learns the count and reset from the hit itself: on Redis one round
trip per call gives the same figures that reading the window back (GET and TTL) would."""

from __future__ import annotations

import time

import pytest
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

from cs_platform.extensions import FixedWindowKnownAfterHit
from tests.conftest import flushed_redis

REDIS_URL = "redis://127.0.0.1:6379/12"  # a database of its own, flushed by the test


@pytest.fixture
def redis_storage() -> RedisStorage:
    client = flushed_redis(REDIS_URL)
    yield RedisStorage(REDIS_URL)
    client.flushdb()
    client.close()


def test_each_hit_is_one_redis_round_trip_and_knows_the_window_it_left(
    app, redis_storage, monkeypatch
):
    strategy = FixedWindowKnownAfterHit(redis_storage)
    reader = FixedWindowRateLimiter(redis_storage)  # reads the window back from Redis
    limit = parse("2 per minute")
    connection = redis_storage.get_connection()
    commands: list[str] = []
    send = connection.execute_command

    def counted(*args, **options):
        commands.append(args[0])
        return send(*args, **options)

    started = time.time()
    with app.test_request_context("/api/v1/accounts"):
        monkeypatch.setattr(connection, "execute_command", counted)
        allowed, windows = [], []
        for _ in range(3):
            allowed.append(strategy.hit(limit, "api-key:1", "api"))
            windows.append(strategy.get_window_stats(limit, "api-key:1", "api"))
        monkeypatch.undo()
        stored = reader.get_window_stats(limit, "api-key:1", "api")
    assert allowed == [True, True, False]
    assert len(commands) == 3  # one EVALSHA per hit; the window stats cost no command
    assert [window.remaining for window in windows] == [1, 0, 0]
    assert windows[-1].remaining == stored.remaining
    assert abs(windows[-1].reset_time - stored.reset_time) <= 1
    assert 58 <= windows[0].reset_time - started <= 61  # the minute's window, from the first hit


def test_outside_a_request_the_window_is_read_from_the_storage(app, redis_storage):
    strategy = FixedWindowKnownAfterHit(redis_storage)
    limit = parse("5 per minute")
    assert strategy.hit(limit, "api-key:2", "api")
    assert strategy.get_window_stats(limit, "api-key:2", "api").remaining == 4
