"""Load shedding through a real ``bentoml serve`` (one worker): a burst of concurrent rankings
holds the worker's event loop, so rankings answered while it is behind come from the cheap
tiers, name their tier and are counted as ``overload``; once the burst is over the worker scores
with the model again. The threshold is set low (1 ms) so that any queue of rankings, each a few
milliseconds of the loop's time, crosses it whatever the machine's speed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import BuiltHome
from tests.serving.conftest import TEST_SERVING, Dataset, Server, configured


@pytest.fixture(scope="module")
def server(built: BuiltHome, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("serving-overload")
    settings = configured(
        built.copy(root / "home"),
        serving={
            **TEST_SERVING,
            "frequency_cap": 0,
            "model_poll_seconds": 3600,
            "shed_loop_lag_ms": 1.0,
        },
    )
    server = Server(settings, root / "server.log")
    yield server
    server.stop()


def test_a_burst_is_partly_shed_to_the_cheap_tiers_and_the_model_serves_after_it(
    server: Server, dataset: Dataset
) -> None:
    customers = [str(c) for c in dataset.customers["customer_id"].head(40)]
    for customer in customers:  # each customer's last served ranking, for the shed answers
        answer = server.rank(customer, k=3)
        assert answer.status_code == 200, answer.text

    def rank(customer: str) -> httpx.Response:  # httpx's client is safe across threads
        return server.rank(customer, k=3)

    before = server.metric("smartstack_rank_errors", 'kind="overload"')
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(rank, customers * 8))
    assert all(a.status_code == 200 for a in answers), {a.status_code for a in answers}
    tiers = Counter(a.json()["tier"] for a in answers)
    shed = tiers["last_served"] + tiers["popularity"]
    assert shed > 0, tiers
    counted = server.metric("smartstack_rank_errors", 'kind="overload"') - before
    assert counted == shed  # every shed answer counted, and no other
    # A shed answer is the customer's last served ranking where there is one.
    assert tiers["last_served"] > 0, tiers

    # Alone again, the worker scores: a model ranking comes back within a few requests.
    for _ in range(50):
        if server.rank(customers[0], k=3).json()["tier"] == "model":
            break
    else:
        pytest.fail("the worker kept shedding after the burst")
