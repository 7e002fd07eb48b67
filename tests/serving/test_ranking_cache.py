"""The ranking cache (``smartstack.serving.ranking_cache``): a cached ranking equals a fresh one.

Two rankers share one serving state and one online store, on SQLite and on Redis: one keeps
rankings, the other ranks every request afresh. For each request both answer; the answers must
be the same (tier, model, offers in order, scores, reason codes, explanations) and the lookup
must be the hit or the miss that the change before it calls for: the same request again is a
hit; the customer's rows written (a quiz answer through Feast's write path, as the stream
processor writes), other offers asked for, the next hour, a swapped serving state and an erasure
are each a miss. Exploration is off here (its draw is per request, cached or not), so both
rankers' orders are deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pandas as pd
import pytest

from smartstack.datasets import active, feature_service_name
from smartstack.featurestore import store
from smartstack.featurestore.guarded import GuardedReader
from smartstack.featurestore.online import OnlineFeatureReader
from smartstack.messaging.explainer import Explainer
from smartstack.messaging.explanation import Explanation, Source
from smartstack.privacy.purposes import CONSENT_VIEW
from smartstack.ranking import smartscore
from smartstack.serving.caps import FrequencyCaps, LastServed
from smartstack.serving.catalog import FeastCatalogue
from smartstack.serving.metrics import ERRORS, RANK_CACHE
from smartstack.serving.model import RegistryAlias
from smartstack.serving.ranker import Ranker, Ranking
from smartstack.serving.ranking_cache import RankingCache
from smartstack.serving.schemas import RankRequest, RankResponse, Tier
from smartstack.serving.state import ServingStateHolder
from smartstack.settings import OnlineStore, Settings
from tests.conftest import BuiltHome, RedisProcess
from tests.serving.conftest import MODEL, REQUEST_TIME, Dataset, answer_the_quiz

NEXT_HOUR = "2026-06-29T13:05:00Z"


@dataclass
class Rankers:
    state: ServingStateHolder
    cache: RankingCache[Ranking]
    cached: Ranker
    fresh: Ranker
    settings: Settings

    def both(self, customer: str, at: str = REQUEST_TIME, **body: object) -> RankResponse:
        """Both rankers' answers to one request, asserted equal; the cached one's returned."""
        request = rank_request(customer, at, **body)
        kept, fresh = self.cached.rank(request), self.fresh.rank(request)
        assert answer(kept) == answer(fresh)
        return kept


def rank_request(customer: str, at: str, **body: object) -> RankRequest:
    payload = {"customer_id": customer, "k": 5, "context": {"channel": "app", "timestamp": at}}
    return RankRequest.model_validate_json(json.dumps(payload | body))


def answer(response: RankResponse) -> dict:
    """Everything of a ranking but its request id."""
    return response.model_dump(mode="json", exclude={"request_id"})


def lookups(result: str) -> float:
    return RANK_CACHE.labels(result=result)._value.get()


def rankers(settings: Settings, dataset: Dataset) -> Rankers:
    feature_store = store.get_store(settings)
    reader = OnlineFeatureReader(
        feature_store,
        feature_service_name(settings),
        timeout_s=1.0,
        extra_customer_views=(CONSENT_VIEW,),
    )
    state = ServingStateHolder(
        RegistryAlias(settings.mlflow_tracking_uri, MODEL, "champion", dataset.feature_names),
        FeastCatalogue(feature_store, active(settings)),
        poll_seconds=3600,
    )
    guarded = GuardedReader(reader.read, version=reader.version)
    cache: RankingCache[Ranking] = RankingCache(100)
    explainer = Explainer.from_settings(settings, persist=False)

    def ranker(**keeping: object) -> Ranker:
        return Ranker(
            read_features=guarded,
            state=state,
            rules=smartscore.smartscore,
            rules_version=smartscore.VERSION,
            favourite=None,
            caps=FrequencyCaps(0, 3600, 100),
            last_served=LastServed(100),
            snapshots=None,
            reasons_per_offer=3,
            explainer=explainer,
            explain_top=3,
            **keeping,  # type: ignore[arg-type]
        )

    return Rankers(state, cache, ranker(cache=cache, read_version=guarded.version), ranker(),
                   settings)  # fmt: skip


@pytest.fixture(scope="module")
def sqlite_rankers(
    built: BuiltHome, dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Rankers:
    return rankers(built.copy(tmp_path_factory.mktemp("cache-sqlite") / "home"), dataset)


@pytest.fixture(scope="module")
def redis_rankers(
    built: BuiltHome,
    dataset: Dataset,
    redis: RedisProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Rankers:
    copied = built.copy(tmp_path_factory.mktemp("cache-redis") / "home")
    settings = copied.model_copy(update={"online_store": OnlineStore.redis, "redis_url": redis.url})
    # A registry of its own: the copy's records the SQLite store's loads, not this store's.
    (settings.home / "feast" / "registry.db").unlink()
    store.apply(settings)
    store.materialize(settings)
    return rankers(settings, dataset)


@pytest.fixture(params=["sqlite", "redis"])
def both(request: pytest.FixtureRequest) -> Iterator[Rankers]:
    yield request.getfixturevalue(f"{request.param}_rankers")


def personal_customer(both: Rankers, dataset: Dataset, nth: int) -> str:
    """The ``nth`` customer the model ranks (features in the store, offers open to them)."""
    found = 0
    for customer in dataset.customers.customer_id.astype(str):
        if both.fresh.rank(rank_request(customer, REQUEST_TIME)).tier is Tier.model:
            found += 1
            if found > nth:
                return customer
    raise AssertionError("no customer ranked by the model")


def test_a_repeated_request_is_a_hit_and_equals_a_fresh_ranking(
    both: Rankers, dataset: Dataset
) -> None:
    customer = personal_customer(both, dataset, 0)
    misses, hits = lookups("miss"), lookups("hit")
    first = both.both(customer)
    assert (lookups("miss"), lookups("hit")) == (misses + 1, hits)
    again = both.both(customer)
    assert (lookups("miss"), lookups("hit")) == (misses + 1, hits + 1)
    assert first.tier is Tier.model and any(o.reasons for o in first.offers)
    assert any(o.explanation is not None for o in again.offers)
    assert answer(again) == answer(first)


def test_the_customers_rows_written_make_the_next_request_a_miss(
    both: Rankers, dataset: Dataset
) -> None:
    customer = personal_customer(both, dataset, 1)
    before = both.both(customer)
    both.both(customer)  # kept
    misses = lookups("miss")
    # A quiz answer newer than any in the data, through Feast's write path (Feast's Redis store
    # keeps only a newer event time): the ranking must be read and scored again.
    catalog = both.state.current.catalog
    favourite = sorted({catalog[o.offer_id].merchant_category for o in before.offers})[-1]
    answer_the_quiz(both.settings, customer, favourite, pd.Timestamp("2026-07-01", tz="UTC"))
    both.both(customer)
    assert lookups("miss") == misses + 1
    both.both(customer)
    assert lookups("miss") == misses + 1


def test_other_offers_the_next_hour_and_a_new_state_are_each_a_miss(
    both: Rankers, dataset: Dataset
) -> None:
    customer = personal_customer(both, dataset, 2)
    whole = both.both(customer)
    both.both(customer)
    misses = lookups("miss")
    some = [o.offer_id for o in whole.offers][1:]
    both.both(customer, candidate_offer_ids=some)
    assert lookups("miss") == misses + 1
    later = both.both(customer, at=NEXT_HOUR)  # request_hour is an input of the model
    assert lookups("miss") == misses + 2
    assert later.tier is Tier.model
    # The same registry and catalogue loaded again: another state, so not the kept rankings.
    both.state.current = replace(both.state.current)
    both.both(customer, at=NEXT_HOUR)
    assert lookups("miss") == misses + 3
    both.both(customer, at=NEXT_HOUR)
    assert lookups("miss") == misses + 3


def test_an_erased_customer_leaves_the_cache(both: Rankers, dataset: Dataset) -> None:
    customer = personal_customer(both, dataset, 3)
    both.both(customer)
    assert customer in both.cache.customers()
    assert both.cache.forget({customer, "someone-never-ranked"}) == 1
    assert customer not in both.cache.customers()
    misses = lookups("miss")
    both.both(customer)
    assert lookups("miss") == misses + 1


def test_a_text_cached_meanwhile_replaces_a_kept_template(
    sqlite_rankers: Rankers, dataset: Dataset
) -> None:
    """A kept ranking keeps its template texts, but the explanation cache is asked every time:
    a text written there meanwhile (the LLM's, by the precompute or `/explain`) is served by
    the next request, as a fresh ranking serves it."""
    customer = personal_customer(sqlite_rankers, dataset, 5)
    first = sqlite_rankers.both(customer)
    explained = next(o for o in first.offers if o.explanation is not None)
    assert explained.explanation.source == "template"
    sqlite_rankers.both(customer)  # a hit, the templates kept
    hits = lookups("hit")
    written = Explanation(
        customer_id=customer,
        offer_id=explained.offer_id,
        feature_version=explained.explanation.feature_version,
        text="Your dining spend makes this one worth a look.",
        source=Source.llm,
    )
    sqlite_rankers.cached._explainer.cache.put(written)  # type: ignore[union-attr]
    after = sqlite_rankers.both(customer)
    assert lookups("hit") == hits + 1
    shown = next(o for o in after.offers if o.offer_id == explained.offer_id)
    assert shown.explanation is not None and shown.explanation.text == written.text


def test_a_fallback_ranking_is_not_kept(sqlite_rankers: Rankers, dataset: Dataset) -> None:
    """A ranking that a failure handed to a fallback tier is answered, not kept: the next
    request asks the model again."""
    customer = personal_customer(sqlite_rankers, dataset, 4)
    state = sqlite_rankers.state
    healthy = state.current
    assert healthy.model is not None
    broken = replace(healthy.model, columns=healthy.model.columns + 10_000)  # out of range
    state.current = replace(healthy, model=broken)
    try:
        for _ in range(2):
            failures = ERRORS.labels(kind="model_error")._value.get()
            response = sqlite_rankers.cached.rank(rank_request(customer, REQUEST_TIME))
            assert response.tier is Tier.smartscore
            assert ERRORS.labels(kind="model_error")._value.get() == failures + 1
    finally:
        state.current = healthy
