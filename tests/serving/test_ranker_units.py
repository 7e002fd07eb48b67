"""The fallback chain and its parts in process, with fakes for the store and the model."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from smartstack.datasets.synthetic.vocabulary import VOCABULARY as SYNTHETIC
from smartstack.featurestore.guarded import FeaturesUnavailable, GuardedReader
from smartstack.featurestore.online import OnlineFeatures
from smartstack.featurestore.rows import ReadTimeout
from smartstack.messaging.cache import ExplanationCache
from smartstack.messaging.explainer import Explainer
from smartstack.messaging.explanation import Explanation, Source
from smartstack.messaging.facts import ExplanationFacts
from smartstack.messaging.llm import Completion
from smartstack.privacy.purposes import Purpose
from smartstack.serving.caps import FrequencyCaps, LastServed
from smartstack.serving.catalog import Offer, OfferCatalog, UnknownOffers
from smartstack.serving.ranker import NotExplainable, Ranker
from smartstack.serving.schemas import RankRequest, Tier
from smartstack.serving.shadow import ShadowScorer
from smartstack.serving.snapshots import ServedRecord, SnapshotWriter
from smartstack.serving.state import ServingState

AT = datetime(2026, 6, 29, 12, tzinfo=UTC)
NAMES = ["value_score", "offer_category_share_30d", "type_fit"]
ALL = "Blue Cash,Green,Gold,Platinum"


def offer(offer_id: str, category: str, products: str = ALL, popularity: float = 0.1) -> Offer:
    return Offer(
        offer_id,
        category,
        datetime(2026, 5, 1, tzinfo=UTC),
        datetime(2026, 6, 30, tzinfo=UTC),
        frozenset(products.split(",")),
        popularity,
        terms={
            "offer_id": offer_id,
            "headline": f"10% back on {category}",
            "merchant_category": category,
            "offer_type": "cashback",
            "value": 10.0,
            "min_spend": 0.0,
        },
    )


CATALOG = OfferCatalog(
    [
        offer("A", "dining", popularity=0.3),
        offer("B", "travel", popularity=0.2),
        offer("C", "travel", products="Platinum", popularity=0.9),
        offer("D", "gas", popularity=0.1),
    ],
    card_products=ALL.split(","),
)


class State:
    """The serving state without a model: the rules rank."""

    champion_alias = "champion"

    current = ServingState(model=None, catalog=CATALOG)


class Snapshots:
    def __init__(self) -> None:
        self.records: list[ServedRecord] = []

    def log(self, record: ServedRecord) -> None:
        self.records.append(record)


SNAPSHOT = datetime(2026, 6, 28)
# The customer's own values: 3x their usual travel spend this month.
SPEND = {
    "spend_90d": 2000.0,
    "spend_travel_30d": 600.0,
    "spend_travel_90d": 800.0,
    "txn_count_travel_30d": 4,
    "txn_count_travel_90d": 6,
    "share_travel_90d": 0.4,
    "trend_travel": 3.0,
}


def features(found: bool = True, card: str = "Gold"):  # noqa: ANN201
    def read(customer_id: str, offer_ids: list[str], at: datetime) -> OnlineFeatures:
        matrix = np.array([[0.1 * (i + 1), 0.5, 0.5] for i in range(len(offer_ids))])
        customer = {"card_product": card, **SPEND} if found else {"card_product": None}
        return OnlineFeatures(
            NAMES, matrix, customer, [{} for _ in offer_ids], found, SNAPSHOT if found else None
        )

    return read


def unavailable(customer_id: str, offer_ids: list[str], at: datetime) -> OnlineFeatures:
    raise FeaturesUnavailable("feature_store_timeout")


class RecordingExplainer(Explainer):
    """The real explainer, noting for which offers it had to build facts (and how)."""

    def __init__(self) -> None:
        super().__init__(vocabulary=SYNTHETIC, cache=ExplanationCache())
        self.built: list[tuple[str, str]] = []

    def template(self, facts: ExplanationFacts) -> Explanation:
        self.built.append(("template", facts.offer.offer_id))
        return super().template(facts)

    def explain(self, facts: ExplanationFacts, **kwargs: object) -> Explanation:
        self.built.append(("explain", facts.offer.offer_id))
        return super().explain(facts)


def ranker(  # noqa: ANN001
    read,
    quiz: dict[str, str] | None = None,
    cap: int = 0,
    explainer: Explainer | None = None,
    explain_top: int = 0,
) -> tuple[Ranker, Snapshots]:
    snapshots = Snapshots()
    return (
        Ranker(
            read_features=read,
            state=State(),  # type: ignore[arg-type]
            rules=lambda matrix, names: matrix[:, 0],
            rules_version="test",
            favourite=(quiz or {}).get,
            caps=FrequencyCaps(cap, 3600, 100),
            last_served=LastServed(100),
            snapshots=snapshots,  # type: ignore[arg-type]
            reasons_per_offer=3,
            explainer=explainer,
            explain_top=explain_top,
        ),
        snapshots,
    )


def request(customer: str = "CUST-1", **extra: object) -> RankRequest:
    body = {"customer_id": customer, "context": {"channel": "app", "timestamp": AT.isoformat()}}
    return RankRequest.model_validate_json(json.dumps({**body, **extra}))


def test_without_a_model_smartscore_ranks_eligible_offers() -> None:
    rank, snapshots = ranker(features(card="Gold"))
    response = rank.rank(request())
    assert response.tier is Tier.smartscore
    assert [o.offer_id for o in response.offers] == ["D", "B", "A"]  # C is Platinum-only
    assert snapshots.records[0].features.shape == (3, len(NAMES))


def test_store_down_replays_last_ranking_then_popularity() -> None:
    rank, _ = ranker(features())
    first = rank.rank(request())
    rank._read = unavailable
    replay = rank.rank(request())
    assert replay.tier is Tier.last_served
    assert [o.offer_id for o in replay.offers] == [o.offer_id for o in first.offers]
    popular = rank.rank(request("CUST-2"))
    assert popular.tier is Tier.popularity
    assert [o.offer_id for o in popular.offers] == ["A", "B", "D"]  # open to all cards only


def test_unknown_customer_cold_start_and_popularity() -> None:
    rank, _ = ranker(features(found=False), quiz={"CUST-Q": "travel"})
    assert [o.offer_id for o in rank.rank(request("CUST-Q")).offers][:1] == ["B"]
    assert rank.rank(request("CUST-Q")).tier is Tier.cold_start_quiz
    assert rank.rank(request("CUST-N")).tier is Tier.popularity


def test_caps_and_unknown_offers() -> None:
    rank, _ = ranker(features(), cap=1)
    assert [o.offer_id for o in rank.rank(request(k=1)).offers] == ["D"]
    assert [o.offer_id for o in rank.rank(request(k=1)).offers] == ["B"]
    with pytest.raises(UnknownOffers):
        rank.rank(request(candidate_offer_ids=["A", "Z"]))


def test_snapshot_writer_writes_features_and_nulls(tmp_path: Path) -> None:
    writer = SnapshotWriter(tmp_path, NAMES, flush_rankings=100, flush_seconds=60, buffer_size=10)
    writer.start()
    now = datetime.now(UTC)
    common = {"served_at": now, "request_time": AT, "channel": "app", "model_name": "m"}
    writer.log(
        ServedRecord(
            "r1",
            "c",
            tier="model",
            model_version="1",
            offer_ids=["A", "B"],
            scores=[0.2, 0.1],
            features=np.ones((2, 3)),
            **common,
        )
    )
    writer.log(
        ServedRecord(
            "r2",
            "c",
            tier="popularity",
            model_version=None,
            offer_ids=["A"],
            scores=[0.3],
            features=None,
            **common,
        )
    )
    writer.close()
    frame = pd.read_parquet(tmp_path)
    assert list(frame.offer_id) == ["A", "B", "A"]
    assert list(frame["rank"]) == [1, 2, 1]
    assert list(frame.score) == [0.2, 0.1, 0.3]
    # Each ranking's own values repeated on each of its offers' rows.
    assert list(frame.request_id) == ["r1", "r1", "r2"]
    assert list(frame.tier) == ["model", "model", "popularity"]
    assert list(frame.model_version) == ["1", "1", None]
    assert set(frame.served_at) == {pd.Timestamp(now)} and set(frame.request_time) == {AT}
    assert list(frame.features[0]) == [1.0, 1.0, 1.0] and frame.features[2] is None


def test_top_offers_carry_explanations_grounded_in_the_customers_features() -> None:
    explainer = Explainer(vocabulary=SYNTHETIC, cache=ExplanationCache())
    rank, _ = ranker(features(), explainer=explainer, explain_top=2)
    response = rank.rank(request())
    explained = [o.explanation for o in response.offers]
    assert [e is not None for e in explained] == [True, True, False]
    travel = next(o for o in response.offers[:2] if o.offer_id == "B").explanation
    assert travel.source == "template" and travel.fallback_reason == "not_configured"
    assert travel.feature_version == "offer_ranking_v1@20260628T000000"
    own_numbers = ("$600", "$800", "3x", "3 times", "40%")
    assert any(n in travel.text for n in own_numbers), travel.text
    assert all(o.explanation is None for o in rank.rank(request(explain=False)).offers)


def test_without_an_llm_rank_renders_what_the_precompute_would_store() -> None:
    """Why the pipeline skips the precompute with no LLM: its entries (the live path, stored)
    say what `/rank` says for offers it finds no entry for."""
    explainer = Explainer(vocabulary=SYNTHETIC, cache=ExplanationCache())
    rank, _ = ranker(features(), explainer=explainer, explain_top=3)
    served = rank.rank(request()).offers
    assert len(explainer.cache) == 0
    precomputed = rank.rank(request(), live_explanations=True, record=False).offers
    assert len(explainer.cache) == 3

    def shown(offers: list) -> list[tuple]:
        return [(o.offer_id, o.explanation.model_dump()) for o in offers[:3]]

    assert shown(served) == shown(precomputed)
    assert shown(rank.rank(request()).offers) == shown(served)  # now read from the cache


def test_cached_text_answers_before_any_facts_are_built() -> None:
    explainer = RecordingExplainer()
    version = "offer_ranking_v1@20260628T000000"
    precomputed = Explanation(
        customer_id="CUST-1",
        offer_id="B",
        feature_version=version,
        text="Precomputed: your travel spend doubled.",
        source=Source.llm,
        model=None,
    )
    explainer.cache.put(precomputed)
    rank, _ = ranker(features(), explainer=explainer, explain_top=2)
    response = rank.rank(request())
    by_offer = {o.offer_id: o.explanation for o in response.offers[:2]}
    assert by_offer["B"].text == precomputed.text and by_offer["B"].source == "llm"
    # Facts only for the offer not cached, and only the template for it.
    assert explainer.built == [("template", o) for o in by_offer if o != "B"]
    # Live explanations (the precompute job's path) build facts for every offer shown.
    explainer.built.clear()
    rank.rank(request(k=2), live_explanations=True)
    assert sorted(explainer.built) == sorted(("explain", o) for o in by_offer)


def test_tiers_without_the_customers_features_carry_no_explanation() -> None:
    rank, _ = ranker(features(found=False), explainer=RecordingExplainer(), explain_top=3)
    response = rank.rank(request("CUST-N"))
    assert response.tier is Tier.popularity
    assert all(o.explanation is None for o in response.offers)


def test_a_failing_explanation_never_fails_the_ranking() -> None:
    class Broken(Explainer):
        def template(self, facts: ExplanationFacts) -> Explanation:
            raise RuntimeError("template bug")

    broken = Broken(vocabulary=SYNTHETIC, cache=ExplanationCache())
    rank, _ = ranker(features(), explainer=broken, explain_top=3)
    response = rank.rank(request())
    assert [o.offer_id for o in response.offers] == ["D", "B", "A"]
    assert all(o.explanation is None for o in response.offers)


def test_unrecorded_rankings_use_no_cap_and_leave_no_trace() -> None:
    rank, snapshots = ranker(features(), cap=1)
    for _ in range(3):
        assert [o.offer_id for o in rank.rank(request(k=1), record=False).offers] == ["D"]
    assert snapshots.records == []
    assert [o.offer_id for o in rank.rank(request(k=1)).offers] == ["D"]


def test_breaker_skips_a_failing_store_then_tries_it_again() -> None:
    calls: list[str] = []
    healthy = features()

    def flaky(customer_id: str, offer_ids: list[str], at: datetime) -> OnlineFeatures:
        calls.append(customer_id)
        if customer_id.startswith("DOWN"):
            raise ConnectionRefusedError("redis down")
        return healthy(customer_id, offer_ids, at)

    reader = GuardedReader(flaky, breaker_failures=3, breaker_reset_s=0.3)
    kinds = []
    for i in range(5):
        with pytest.raises(FeaturesUnavailable) as failure:
            reader(f"DOWN-{i}", ["A"], AT)
        kinds.append(failure.value.kind)
    # Two plain errors, the third trips the circuit, then the store is not even asked.
    assert kinds[:2] == ["feature_store_error"] * 2
    assert kinds[2:] == ["feature_store_circuit_open"] * 3
    assert calls == ["DOWN-0", "DOWN-1", "DOWN-2"]
    time.sleep(0.35)
    assert reader("UP-1", ["A"], AT).customer_found  # the trial read succeeds: closed again
    assert reader("UP-2", ["A"], AT).customer_found
    assert calls[-2:] == ["UP-1", "UP-2"]


def test_a_read_past_its_deadline_is_a_timeout_and_an_error_is_an_error() -> None:
    def slow(customer_id: str, offer_ids: list[str], at: datetime) -> OnlineFeatures:
        raise ReadTimeout("Timeout reading from socket")

    def broken(customer_id: str, offer_ids: list[str], at: datetime) -> OnlineFeatures:
        raise sqlite3.OperationalError("no such table: smartstack_customer_spend")

    kinds = []
    for read in (slow, broken):
        with pytest.raises(FeaturesUnavailable) as failure:
            GuardedReader(read, breaker_failures=0)("C1", ["A"], AT)
        kinds.append(failure.value.kind)
    assert kinds == ["feature_store_timeout", "feature_store_error"]


def test_without_a_breaker_every_read_reaches_the_store() -> None:
    calls: list[str] = []

    def down(customer_id: str, offer_ids: list[str], at: datetime) -> OnlineFeatures:
        calls.append(customer_id)
        raise ConnectionRefusedError("redis down")

    reader = GuardedReader(down, breaker_failures=0)
    for i in range(8):
        with pytest.raises(FeaturesUnavailable):
            reader(f"C{i}", ["A"], AT)
    assert len(calls) == 8


# Consent by purpose, read with the features (the reader puts the consent view's columns in
# the customer's values).


def consenting(refused: dict[str, set[str]], found: bool = True):  # noqa: ANN201
    """The ``features`` fake with each customer's refused purposes as 0 in their values."""
    read = features(found=found)

    def with_consent(customer_id: str, offer_ids: list[str], at: datetime) -> OnlineFeatures:
        online = read(customer_id, offer_ids, at)
        columns = {
            f"consent_{p}": int(p not in refused.get(customer_id, set()))
            for p in ("personalization", "llm_messaging", "analytics")
        }
        return replace(online, customer={**online.customer, **columns})

    return with_consent


class FakeLLM:
    """Stands for the LLM client: answers a fixed text, counting the calls."""

    model = "test-llm"

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, messages: list[dict[str, str]]) -> Completion:
        self.calls += 1
        return Completion("This offer fits how you shop.", 10, False)


def test_without_personalization_consent_the_popular_offers_and_no_trace_of_features() -> None:
    refused: dict[str, set[str]] = {}
    explainer = Explainer(vocabulary=SYNTHETIC, cache=ExplanationCache())
    rank, snapshots = ranker(consenting(refused), explainer=explainer, explain_top=3)
    personal = rank.rank(request())
    assert personal.tier is Tier.smartscore and personal.limited_by == []

    refused["CUST-1"] = {"personalization"}
    response = rank.rank(request())
    assert response.tier is Tier.popularity
    assert response.limited_by == [Purpose.personalization]
    # The offers everyone gets (C is Platinum-only), no reasons, no explanations.
    assert [o.offer_id for o in response.offers] == ["A", "B", "D"]
    assert all(o.reasons == [] and o.explanation is None for o in response.offers)
    record = snapshots.records[-1]
    assert record.request_id == response.request_id and record.tier == "popularity"
    assert record.features is None
    # The last personal ranking is forgotten: with the store down, popularity, not a replay.
    rank._read = unavailable
    assert rank.rank(request()).tier is Tier.popularity


def test_without_personalization_consent_no_cold_start_by_quiz_answers() -> None:
    rank, _ = ranker(
        consenting({"CUST-Q": {"personalization"}}, found=False), quiz={"CUST-Q": "travel"}
    )
    response = rank.rank(request("CUST-Q"))
    assert response.tier is Tier.popularity
    assert [o.offer_id for o in response.offers] == ["A", "B", "D"]
    # Nothing of theirs but consent is in the store: the refusal changed nothing visible.
    assert response.limited_by == []


def test_without_llm_consent_template_text_and_nothing_sent() -> None:
    llm = FakeLLM()
    explainer = Explainer(llm, vocabulary=SYNTHETIC, cache=ExplanationCache())  # type: ignore[arg-type]
    refused = {"CUST-2": {"llm_messaging"}}
    rank, _ = ranker(consenting(refused), explainer=explainer, explain_top=2)
    # Precompute (live explanations): the LLM for the consenting customer only.
    rank.rank(request("CUST-1", k=2), live_explanations=True, record=False)
    assert llm.calls == 2
    live = rank.rank(request("CUST-2", k=2), live_explanations=True, record=False)
    assert llm.calls == 2
    assert live.limited_by == [Purpose.llm_messaging]
    assert {(o.explanation.source, o.explanation.fallback_reason) for o in live.offers} == {
        ("template", "consent")
    }
    # /rank: LLM text cached before the refusal is not served.
    version = "offer_ranking_v1@20260628T000000"
    for offer_id in ("B", "D"):
        explainer.cache.put(
            Explanation(
                customer_id="CUST-2",
                offer_id=offer_id,
                feature_version=version,
                text="Cached LLM text.",
                source=Source.llm,
                model=llm.model,
            )
        )
    response = rank.rank(request("CUST-2"))
    assert response.tier is Tier.smartscore
    shown = [o.explanation for o in response.offers[:2]]
    assert all(e.source == "template" and e.fallback_reason == "consent" for e in shown)
    assert response.limited_by == [Purpose.llm_messaging]
    refused.clear()
    again = rank.rank(request("CUST-2"))
    assert [o.explanation.text for o in again.offers[:2]] == ["Cached LLM text."] * 2
    assert again.limited_by == []
    # /explain: the LLM is not called either.
    refused["CUST-2"] = {"llm_messaging"}
    ranking, _, text = rank.explain_offer("CUST-2", "A", AT)
    assert (text.source, text.fallback_reason) == ("template", "consent")
    assert ranking.limited == (Purpose.llm_messaging,)
    assert llm.calls == 2


def test_without_an_llm_refused_llm_consent_limits_nothing() -> None:
    explainer = Explainer(vocabulary=SYNTHETIC, cache=ExplanationCache())
    rank, _ = ranker(consenting({"CUST-1": {"llm_messaging"}}), explainer=explainer, explain_top=2)
    response = rank.rank(request())
    assert response.limited_by == []
    assert response.offers[0].explanation.fallback_reason == "not_configured"


def test_explain_refuses_a_customer_without_personalization_consent() -> None:
    rank, _ = ranker(consenting({"CUST-1": {"personalization"}}), explainer=RecordingExplainer())
    with pytest.raises(NotExplainable, match="personalization"):
        rank.explain_offer("CUST-1", "A", AT)


def test_without_analytics_consent_no_ranking_log_row_and_no_shadow(tmp_path: Path) -> None:
    refused = {"CUST-1": {"analytics"}, "CUST-3": {"personalization"}}
    rank, snapshots = ranker(consenting(refused))
    withheld = rank.rank(request("CUST-1"))
    assert withheld.tier is Tier.smartscore and withheld.limited_by == [Purpose.analytics]
    logged = rank.rank(request("CUST-2"))
    impersonal = rank.rank(request("CUST-3"))
    assert [r.request_id for r in snapshots.records] == [
        logged.request_id,
        impersonal.request_id,
    ]
    assert snapshots.records[0].features is not None and snapshots.records[1].features is None
    # Unrecorded rankings (precompute) withhold nothing, so nothing is limited.
    assert rank.rank(request("CUST-1"), record=False).limited_by == []

    from tests.serving.test_experiment_routing import State as Experiments
    from tests.serving.test_experiment_routing import ranker as experiment_ranker

    shadow = ShadowScorer(tmp_path, lambda m, n: m[:, 0], flush_seconds=0.05, buffer_size=100)
    shadow.start()
    shadowed, _ = experiment_ranker(
        Experiments({"shadow": {"ranker": "challenger", "share": 1.0}}), shadow
    )
    shadowed._read = consenting(refused)
    served = [shadowed.rank(request(c)) for c in ("CUST-1", "CUST-2", "CUST-3")]
    shadow.close()
    logged_ids = {row["request_id"] for row in pq.read_table(tmp_path).to_pylist()}
    assert logged_ids == {served[1].request_id}


def test_unrecorded_consent_counts_as_the_setting() -> None:
    snapshots = Snapshots()
    strict = Ranker(
        read_features=features(),  # no consent columns: nothing recorded
        state=State(),  # type: ignore[arg-type]
        rules=lambda matrix, names: matrix[:, 0],
        rules_version="test",
        favourite=None,
        caps=FrequencyCaps(0, 3600, 100),
        last_served=LastServed(100),
        snapshots=snapshots,  # type: ignore[arg-type]
        reasons_per_offer=3,
        unrecorded_consent=False,
    )
    response = strict.rank(request())
    assert response.tier is Tier.popularity
    assert response.limited_by == [Purpose.personalization, Purpose.analytics]
    assert snapshots.records == []
    # The store down: consent unknown, so the setting again.
    strict._read = unavailable
    assert strict.rank(request()).tier is Tier.popularity
