"""``POST /explain``'s refusals over HTTP, on a real ``bentoml serve`` with a Redis online store.

Shown here (the unknown customer's 404 is in ``test_explanations_http.py``):

- an offer that is not open to the customer's card is a 404 naming it, while offers open to
  their card are explained;
- Redis paused (reads overrun the deadline, then the circuit opens) makes ``/explain`` a 503
  that says to retry, never a 500 and never a guess, while ``/rank`` still answers 200 from its
  fallback tiers; once Redis answers again, ``/explain`` explains again.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterator

import pytest
from conftest import REQUEST_TIME, Dataset, Server, redis_backed_server

from tests.conftest import RedisProcess

pytestmark = pytest.mark.slow

CONTEXT = {"channel": "app", "timestamp": REQUEST_TIME}


@pytest.fixture(scope="module")
def redis_server(
    redis: RedisProcess, dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    server = redis_backed_server(redis.url, dataset, tmp_path_factory.mktemp("explain-redis"))
    yield server
    server.stop()


def explain(server: Server, customer: str, offer: str):  # noqa: ANN201
    body = {"customer_id": customer, "offer_id": offer, "context": CONTEXT}
    return server.http.post("/explain", json=body)


def closed_to(dataset: Dataset, card: str) -> tuple[list[str], list[str]]:
    """The offers open to ``card`` and those that are not."""
    cards = dataset.offers.set_index("offer_id").eligible_card_products.str.split(",")
    open_ = [o for o, allowed in cards.items() if card in allowed]
    closed = [o for o, allowed in cards.items() if card not in allowed]
    return open_, closed


def test_an_offer_not_open_to_the_card_is_a_404(redis_server: Server, dataset: Dataset) -> None:
    by_card = dataset.customers.groupby("card_product").customer_id.first()
    pairs = [(c, card, closed_to(dataset, card)) for card, c in by_card.items()]
    pairs = [(c, card, open_, closed) for c, card, (open_, closed) in pairs if closed]
    assert pairs, "the data set has offers closed to some card product"
    customer, card, open_, closed = pairs[0]

    refused = explain(redis_server, customer, closed[0])
    assert refused.status_code == 404, refused.text
    assert "not open to this customer's card" in refused.text
    explained = explain(redis_server, customer, open_[0])
    assert explained.status_code == 200, explained.text
    assert explained.json()["tier"] == "model" and explained.json()["explanation"]["text"]


def test_the_store_down_makes_explain_a_503_and_rank_falls_back(
    redis: RedisProcess, redis_server: Server, dataset: Dataset
) -> None:
    customer = str(dataset.customers.customer_id.iloc[20])
    ranked = redis_server.rank(customer, k=3)
    assert ranked.status_code == 200 and ranked.json()["tier"] == "model"
    offer = ranked.json()["offers"][0]["offer_id"]
    assert explain(redis_server, customer, offer).status_code == 200

    redis.process.send_signal(signal.SIGSTOP)  # Redis hangs: reads overrun the deadline
    try:
        # The first reads time out; after `breaker_failures` of them the circuit answers.
        answers = [explain(redis_server, customer, offer) for _ in range(7)]
        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert "retry later" in answer.text and "Traceback" not in answer.text
            # Try again once the circuit's trial read is due (serving.breaker_reset_seconds).
            assert answer.headers["Retry-After"] == str(
                math.ceil(redis_server.settings.serving.breaker_reset_seconds)
            )
        kinds = {k for k in ("feature_store_timeout", "feature_store_circuit_open") if any(
            k in a.text for a in answers)}  # fmt: skip
        assert kinds == {"feature_store_timeout", "feature_store_circuit_open"}, kinds
        fallback = redis_server.rank(customer, k=3)
        assert fallback.status_code == 200
        assert fallback.json()["tier"] in ("last_served", "popularity")
    finally:
        redis.process.send_signal(signal.SIGCONT)

    deadline = time.monotonic() + 30
    while (again := explain(redis_server, customer, offer)).status_code != 200:
        assert again.status_code == 503, again.text
        assert time.monotonic() < deadline, "/explain did not recover after Redis resumed"
        time.sleep(0.2)
    assert again.json()["tier"] == "model"
