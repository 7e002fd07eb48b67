"""Frequency caps shared through Redis: every worker counts the same servings, and fail open."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from conftest import free_port

from smartstack.serving.caps import RedisFrequencyCaps


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed in CI")
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path_factory.mktemp("redis-caps"),
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(10)


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
