"""The limiter's fixed window learns the count and reset from the hit itself: on Redis one round
trip per call, on a connection the thread keeps, gives the same figures that reading the window
back (GET and TTL) would; a dropped connection costs no hit."""

from __future__ import annotations

import time
from typing import Any

import pytest
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from redis import Connection

from cs_platform.extensions import HELD_REDIS, FixedWindowKnownAfterHit
from tests.conftest import flushed_redis

REDIS_URL = "redis://127.0.0.1:6379/12"  # a database of its own, flushed by the test


@pytest.fixture
def redis_storage() -> RedisStorage:
    client = flushed_redis(REDIS_URL)
    yield RedisStorage(REDIS_URL)
    client.flushdb()
    client.close()


# What a connection sends as it connects, before any command of ours.
HANDSHAKE = {"HELLO", "AUTH", "CLIENT", "SELECT"}


@pytest.fixture
def sent(monkeypatch) -> list[str]:
    """The commands sent to Redis from here on, by name, the connections' handshakes left out."""
    commands: list[str] = []
    send = Connection.send_command

    def counted(connection: Connection, *args: Any, **options: Any) -> None:
        if args[0] not in HANDSHAKE:
            commands.append(args[0])
        send(connection, *args, **options)

    monkeypatch.setattr(Connection, "send_command", counted)
    return commands


def test_each_hit_is_one_redis_round_trip_and_knows_the_window_it_left(app, redis_storage, sent):
    strategy = FixedWindowKnownAfterHit(redis_storage)
    reader = FixedWindowRateLimiter(redis_storage)  # reads the window back from Redis
    limit = parse("2 per minute")
    started = time.time()
    with app.test_request_context("/api/v1/accounts"):
        allowed, windows = [], []
        for _ in range(3):
            allowed.append(strategy.hit(limit, "api-key:1", "api"))
            windows.append(strategy.get_window_stats(limit, "api-key:1", "api"))
        commands = list(sent)
        stored = reader.get_window_stats(limit, "api-key:1", "api")
    assert allowed == [True, True, False]
    # One EVALSHA per hit (after an EVAL if this Redis had not seen the script yet); the window
    # stats cost no command.
    assert commands[-3:] == ["EVALSHA", "EVALSHA", "EVALSHA"]
    assert commands[:-3] in ([], ["EVALSHA", "EVAL"])
    assert [window.remaining for window in windows] == [1, 0, 0]
    assert windows[-1].remaining == stored.remaining
    assert abs(windows[-1].reset_time - stored.reset_time) <= 1
    assert 58 <= windows[0].reset_time - started <= 61  # the minute's window, from the first hit


def test_a_hit_whose_connection_redis_dropped_is_counted_on_a_new_one(app, redis_storage, sent):
    strategy = FixedWindowKnownAfterHit(redis_storage)
    limit = parse("5 per minute")
    assert strategy.hit(limit, "api-key:3", "api")
    held = HELD_REDIS.by_storage[redis_storage]
    held.send_command("CLIENT", "ID")
    redis_storage.get_connection().client_kill_filter(_id=held.read_response())
    before = len(sent)
    assert strategy.hit(limit, "api-key:3", "api")
    assert sent[before:] == ["EVALSHA", "EVALSHA"]  # on the dropped connection, then a new one
    assert strategy.get_window_stats(limit, "api-key:3", "api").remaining == 3


def test_outside_a_request_the_window_is_read_from_the_storage(app, redis_storage):
    strategy = FixedWindowKnownAfterHit(redis_storage)
    limit = parse("5 per minute")
    assert strategy.hit(limit, "api-key:2", "api")
    assert strategy.get_window_stats(limit, "api-key:2", "api").remaining == 4
