"""The explanation cache: LRU in memory, SQLite behind it, one entry per full key."""

from __future__ import annotations

from pathlib import Path

from smartstack.messaging import Explanation, ExplanationCache, Source


def make(
    customer_id: str,
    feature_version: str = "fv",
    model: str | None = "m",
    offer_id: str = "OFR-012",
) -> Explanation:
    return Explanation(
        customer_id=customer_id,
        offer_id=offer_id,
        feature_version=feature_version,
        text=f"for {customer_id}",
        source=Source.llm,
        model=model,
    )


def test_the_least_recently_used_entry_is_evicted() -> None:
    cache = ExplanationCache(max_items=2)
    a, b, c = make("A"), make("B"), make("C")
    cache.put_many([a, b])
    assert cache.get(a.cache_key) == a  # A is now the most recent

    cache.put(c)

    assert len(cache) == 2 and cache.get(b.cache_key) is None
    assert cache.get(a.cache_key) == a and cache.get(c.cache_key) == c


def test_the_key_holds_feature_version_and_model() -> None:
    cache = ExplanationCache()
    cache.put(make("A"))

    assert cache.get(("A", "OFR-012", "fv", "m")) is not None
    assert cache.get(("A", "OFR-012", "fv-2", "m")) is None
    assert cache.get(("A", "OFR-012", "fv", "other")) is None
    assert make("A", model=None).cache_key == ("A", "OFR-012", "fv", "template")


def test_sqlite_keeps_what_memory_evicts_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "messaging" / "explanations.sqlite"
    cache = ExplanationCache(max_items=1, path=path)
    a, b = make("A"), make("B")
    cache.put_many([a, b])

    assert cache.get(a.cache_key) == a  # evicted from memory, read back from SQLite
    cache.close()
    assert ExplanationCache(path=path).get(b.cache_key) == b


def test_many_offers_are_looked_up_in_memory_then_sqlite_with_the_full_key(
    tmp_path: Path,
) -> None:
    cache = ExplanationCache(max_items=1, path=tmp_path / "explanations.sqlite")
    one, two = make("A", offer_id="OFR-1"), make("A", offer_id="OFR-2")
    other_version, other_customer = make("A", "fv-2", offer_id="OFR-3"), make("B", offer_id="OFR-3")
    cache.put_many([one, other_version, other_customer, two])  # memory keeps only OFR-2

    found = cache.get_many("A", ["OFR-1", "OFR-2", "OFR-3", "OFR-9"], "fv", "m")

    assert found == {"OFR-1": one, "OFR-2": two}
    assert cache.get_many("A", ["OFR-1"], "fv", "other") == {}
    assert ExplanationCache().get_many("A", ["OFR-1"], "fv", "m") == {}  # memory only, empty
