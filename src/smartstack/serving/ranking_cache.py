"""Personal rankings kept per customer and reused while nothing they were computed from changed.

A personal ranking is a function of four things: the customer's rows in the online store, the
offers ranked (those valid and under their caps), the serving state (model, rankers, catalogue,
experiments) and the hour of the request (the features that read the request time are its UTC
hour, weekday and week). This cache keeps, per customer, the features read and each ranker's
sorted scores together with those four: the rows' version (:meth:`OnlineFeatureReader.version`,
one small read instead of every value decoded), the state object (a reload swaps it), the hour
and the offers. A request that matches all four reuses them, so no value is decoded, no
transformation run and no tree walked, and the reason codes and template texts of a shown list
are computed once (:class:`Memo`). Whatever a request draws stays per request: exploration,
interleaving, the shadow's share, the request id, the caps, the ranking log and the explanation
cache's lookup (a text the LLM wrote meanwhile is served at once).

Rankings are not precomputed by the batch job: the hour features make a ranking valid for one
hour at most, and the streamed features change at any moment, so a precomputed ranking would be
checked against the same four things and be stale for most requests. Kept on first use, a
ranking serves the customer's next requests in the same hour (an app session's page loads).

``tests/serving/test_ranking_cache.py`` shows a cached ranking equal to a fresh one, and a
changed input of each kind making the next request a miss.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from cachetools import LRUCache

from smartstack.featurestore.online import OnlineFeatures
from smartstack.serving.metrics import RANK_CACHE

Scored = TypeVar("Scored")
# Derived values one entry keeps: reason codes of a few shown lists, templates of their offers
MEMO_ITEMS = 64


class Memo(dict[Hashable, Any]):
    """Values derived from one entry's features, emptied when full (exploration draws many
    shown lists, each with its own reason codes)."""

    def __init__(self, items: int) -> None:
        super().__init__()
        self._items = items

    def __setitem__(self, key: Hashable, value: Any) -> None:
        if len(self) >= self._items:
            self.clear()
        super().__setitem__(key, value)


@dataclass
class CachedRanking(Generic[Scored]):
    """What one customer's ranking was computed from, and what it computed."""

    state: weakref.ref[Any]  # the ServingState scored with, compared by identity; not kept alive
    version: Hashable  # the customer's rows' version in the online store
    hour: datetime  # the request's UTC hour
    offers: tuple[str, ...]  # the offers ranked, in request order
    features: OnlineFeatures
    scored: dict[str, Scored] = field(default_factory=dict)  # each ranker's sorted scores
    # What was derived from these features for a shown list: reason codes, template texts
    memo: Memo = field(default_factory=lambda: Memo(MEMO_ITEMS))

    def matches(
        self, state: object, version: Hashable, hour: datetime, offers: tuple[str, ...]
    ) -> bool:
        return (
            self.state() is state
            and self.version == version
            and self.hour == hour
            and self.offers == offers
        )


def request_hour(at: datetime) -> datetime:
    """The UTC hour a request falls in: everything the features read of its time."""
    moment = at.astimezone(UTC) if at.tzinfo else at
    return moment.replace(minute=0, second=0, microsecond=0)


class RankingCache(Generic[Scored]):
    """The last ranking of up to ``customers`` customers, least recently used dropped first.
    Each lookup counts as a hit or a miss (``smartstack_rank_cache_lookups_total``)."""

    def __init__(self, customers: int) -> None:
        self._entries: LRUCache[str, CachedRanking[Scored]] = LRUCache(maxsize=customers)

    def get(
        self,
        customer_id: str,
        state: object,
        version: Hashable,
        at: datetime,
        offers: tuple[str, ...],
    ) -> CachedRanking[Scored] | None:
        entry = self._entries.get(customer_id)
        if entry is not None and entry.matches(state, version, request_hour(at), offers):
            RANK_CACHE.labels(result="hit").inc()
            return entry
        RANK_CACHE.labels(result="miss").inc()
        return None

    def put(
        self,
        customer_id: str,
        state: object,
        version: Hashable,
        at: datetime,
        offers: tuple[str, ...],
        features: OnlineFeatures,
    ) -> CachedRanking[Scored]:
        entry = CachedRanking[Scored](
            weakref.ref(state), version, request_hour(at), offers, features
        )
        self._entries[customer_id] = entry
        return entry

    def customers(self) -> list[str]:
        return list(self._entries)

    def forget(self, customer_ids: set[str]) -> int:
        """Drop the given customers' rankings (an erasure); how many were kept."""
        dropped = [c for c in customer_ids if c in self._entries]
        for customer in dropped:
            del self._entries[customer]
        return len(dropped)
