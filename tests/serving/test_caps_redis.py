"""Frequency caps shared through Redis: every worker counts the same servings, and fail open."""

from __future__ import annotations

import time

import pytest

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
    assert worker_a.allowed("CUST-1", ["A", "B", "C"]) == ["B", "C"]
    assert worker_b.allowed("CUST-1", ["A", "B", "C"]) == ["B", "C"]
    assert worker_b.allowed("CUST-2", ["A"]) == ["A"]  # caps are per customer


def test_servings_leave_the_window(redis_url: str) -> None:
    caps = RedisFrequencyCaps(redis_url, cap=1, window_seconds=0.5)
    caps.record("CUST-3", ["A"])
    assert caps.allowed("CUST-3", ["A"]) == []
    time.sleep(0.6)
    assert caps.allowed("CUST-3", ["A"]) == ["A"]


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
