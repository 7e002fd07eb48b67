"""The prod-like path: Redis online store, then Redis paused (slow) and killed (down).

The service must answer every request with 200, replaying the customer's last ranking when it
has one and the popular offers otherwise, and return to the model once Redis answers again.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
from conftest import Dataset, Server, redis_backed_server

from tests.conftest import RedisProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def redis_server(
    redis: RedisProcess, dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    server = redis_backed_server(redis.url, dataset, tmp_path_factory.mktemp("serving-redis"))
    yield server
    server.stop()


def served(body: dict) -> list[str]:
    return [o["offer_id"] for o in body["offers"]]


def test_redis_slow_then_down_falls_back_without_errors(
    redis: RedisProcess, redis_server: Server, dataset: Dataset
) -> None:
    process = redis.process
    regular, newcomer, other = dataset.customers.customer_id.iloc[[10, 11, 12]]
    first = redis_server.rank(regular, k=5).json()
    assert first["tier"] == "model"

    process.send_signal(signal.SIGSTOP)  # Redis hangs: reads overrun the deadline
    try:
        started = time.monotonic()
        replay = redis_server.rank(regular, k=5)
        assert time.monotonic() - started < 1.0
        assert replay.status_code == 200
        assert replay.json()["tier"] == "last_served"
        assert served(replay.json()) == served(first)
        assert replay.json()["model"] == first["model"]
        popular = redis_server.rank(newcomer, k=5)
        assert popular.status_code == 200 and popular.json()["tier"] == "popularity"
    finally:
        process.send_signal(signal.SIGCONT)

    deadline = time.monotonic() + 10
    while redis_server.rank(regular).json()["tier"] != "model":
        assert time.monotonic() < deadline, "did not return to the model after Redis resumed"
        time.sleep(0.2)

    process.kill()  # Redis is gone: connection refused
    process.wait()
    replay = redis_server.rank(regular, k=5)
    assert replay.status_code == 200 and replay.json()["tier"] == "last_served"
    popular = redis_server.rank(other, k=5)
    assert popular.status_code == 200 and popular.json()["tier"] == "popularity"

    # A refused connection is retried by the Redis client, so it may end as a timeout too.
    metrics = redis_server.http.get("/metrics").text
    assert 'smartstack_rank_errors_total{kind="feature_store_timeout"}' in metrics
    assert 'smartstack_rank_tier_total{tier="last_served"} 2.0' in metrics
