"""The explanation cache: LRU in memory, SQLite behind it, one entry per full key."""

from __future__ import annotations

from pathlib import Path

from smartstack.messaging import Explanation, ExplanationCache, Source


def make(customer_id: str, feature_version: str = "fv", model: str | None = "m") -> Explanation:
    return Explanation(
        customer_id=customer_id,
        offer_id="OFR-012",
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
