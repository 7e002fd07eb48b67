"""Per-customer frequency caps and the last-served rankings, in process memory.

Both are small per customer and only useful for recent customers, so each is an LRU bounded by
customer count. They are per worker process: with one worker (the default) they are exact; with
more, a customer's cap is counted per worker (a shared Redis counter is the next step, see the
serving README).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


class _Lru(Generic[V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, V] = OrderedDict()

    def get(self, key: str) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)


class FrequencyCaps:
    """At most ``cap`` servings of one offer to one customer within ``window_seconds``."""

    def __init__(self, cap: int, window_seconds: float, customers: int) -> None:
        self._cap = cap
        self._window = window_seconds
        self._served: _Lru[dict[str, list[float]]] = _Lru(customers)
        self._lock = threading.Lock()

    def allowed(self, customer_id: str, offer_ids: Sequence[str]) -> list[str]:
        if not self._cap:
            return list(offer_ids)
        since = time.monotonic() - self._window
        with self._lock:
            served = self._served.get(customer_id) or {}
            return [o for o in offer_ids if sum(t > since for t in served.get(o, ())) < self._cap]

    def record(self, customer_id: str, offer_ids: Sequence[str]) -> None:
        if not self._cap:
            return
        now = time.monotonic()
        since = now - self._window
        with self._lock:
            served = self._served.get(customer_id)
            if served is None:
                served = {}
                self._served.put(customer_id, served)
            for offer_id in offer_ids:
                served[offer_id] = [t for t in served.get(offer_id, ()) if t > since] + [now]


@dataclass(frozen=True)
class ServedRanking:
    offer_ids: tuple[str, ...]  # best first, as served
    scores: tuple[float, ...]
    model_name: str
    model_version: str | None


class LastServed:
    """Each recent customer's last personal ranking, replayed when features are unavailable."""

    def __init__(self, customers: int) -> None:
        self._rankings: _Lru[ServedRanking] = _Lru(customers)
        self._lock = threading.Lock()

    def get(self, customer_id: str) -> ServedRanking | None:
        with self._lock:
            return self._rankings.get(customer_id)

    def put(self, customer_id: str, ranking: ServedRanking) -> None:
        with self._lock:
            self._rankings.put(customer_id, ranking)
