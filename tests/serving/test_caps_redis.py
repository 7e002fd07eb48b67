"""Frequency caps shared through Redis: every worker counts the same servings, and fail open."""

from __future__ import annotations

import time

import pytest
import redis as redis_client
from prometheus_client import REGISTRY

from smartstack.serving.caps import RedisFrequencyCaps
from tests.conftest import RedisProcess, free_port


@pytest.fixture(scope="module")
def redis_url(redis: RedisProcess) -> str:
    return redis.url


def test_two_workers_share_one_cap(redis_url: str) -> None:
    worker_a = RedisFrequencyCaps(redis_url, cap=2, window_seconds=60)
    worker_b = RedisFrequencyCaps(redis_url, cap=2, window_seconds=60)
    worker_a.record("CUST-1", ["A", "B"])
    worker_b.record("CUST-1", ["A"])
    worker_b.settle()  # worker_b's serving applied: Redis has answered its script
    assert worker_a.allowed("CUST-1", ["A", "B", "C"]) == ["B", "C"]
    assert worker_b.allowed("CUST-1", ["A", "B", "C"]) == ["B", "C"]
    assert worker_b.allowed("CUST-2", ["A"]) == ["A"]  # caps are per customer


def test_servings_leave_the_window(redis_url: str) -> None:
    caps = RedisFrequencyCaps(redis_url, cap=1, window_seconds=0.5)
    caps.record("CUST-3", ["A"])
    assert caps.allowed("CUST-3", ["A"]) == []
    time.sleep(0.6)
    assert caps.allowed("CUST-3", ["A"]) == ["A"]


def test_a_serving_is_sent_without_waiting_and_applied_once_settled(redis_url: str) -> None:
    caps = RedisFrequencyCaps(redis_url, cap=3, window_seconds=60)
    observer = redis_client.Redis.from_url(redis_url)
    caps.record("CUST-6", ["A", "B"])
    caps.settle()
    assert sorted(observer.hkeys(caps.key("CUST-6"))) == [b"A", b"B"]
    caps.record("CUST-6", ["A"])
    assert caps.allowed("CUST-6", ["A", "B"]) == ["A", "B"]  # 2 and 1 servings of 3
    caps.record("CUST-6", ["A"])
    assert caps.allowed("CUST-6", ["A", "B"]) == ["B"]
    assert observer.ttl(caps.key("CUST-6")) > 0


def test_a_serving_redis_refuses_is_counted_and_the_next_one_recorded(redis_url: str) -> None:
    """The refusal's reply is read with the next serving: counted there, and the connection
    still records that serving."""
    caps = RedisFrequencyCaps(redis_url, cap=1, window_seconds=60)
    redis_client.Redis.from_url(redis_url).set(caps.key("CUST-7"), "not a hash")
    errors = {"kind": "caps_unavailable"}
    before = REGISTRY.get_sample_value("smartstack_rank_errors_total", errors) or 0.0
    caps.record("CUST-7", ["A"])  # the script fails on the string: WRONGTYPE
    caps.record("CUST-8", ["A"])
    assert REGISTRY.get_sample_value("smartstack_rank_errors_total", errors) == before + 1
    assert caps.allowed("CUST-8", ["A", "B"]) == ["B"]


def test_unreachable_redis_fails_open() -> None:
    caps = RedisFrequencyCaps(f"redis://127.0.0.1:{free_port()}/0", cap=1, window_seconds=60)
    for _ in range(8):  # past the breaker's threshold too
        caps.record("CUST-4", ["A"])
        assert caps.allowed("CUST-4", ["A", "B"]) == ["A", "B"]


def test_an_outage_is_logged_per_state_change_not_per_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At 200 requests/s an outage logged on every call was thousands of lines a minute; once
    the breaker is open its refusals are counted, not logged."""
    caps = RedisFrequencyCaps(f"redis://127.0.0.1:{free_port()}/0", cap=1, window_seconds=60)
    with caplog.at_level("WARNING"):
        for _ in range(100):
            assert caps.allowed("CUST-5", ["A"]) == ["A"]
            caps.record("CUST-5", ["A"])
    lines = [r.getMessage() for r in caplog.records]
    assert any("caps circuit: closed -> open" in line for line in lines), lines
    assert len(lines) < 20, lines  # the failures that open it, and the state change
