"""Explanations by (customer, offer, feature version, model): memory first, SQLite behind it.

`/rank` reads only this cache, so its latency never depends on an LLM. The in-memory LRU answers
in microseconds; the optional SQLite file (under ``<home>/messaging/``) lets a precompute job fill
the cache that the serving process then reads, and survives restarts. A new feature version or a
new model makes new keys, so stale text is never served for changed facts.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from smartstack.messaging.explanation import CacheKey, Explanation
from smartstack.settings import Settings, get_settings

_SCHEMA = """
create table if not exists explanations (
    customer_id text not null,
    offer_id text not null,
    feature_version text not null,
    model text not null,
    payload text not null,
    primary key (customer_id, offer_id, feature_version, model)
)
"""


def default_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).home / "messaging" / "explanations.sqlite"


class ExplanationCache:
    """A thread-safe LRU of explanations, optionally persisted to SQLite."""

    def __init__(self, max_items: int = 100_000, path: Path | None = None) -> None:
        self.max_items = max_items
        self.path = path
        self._items: OrderedDict[CacheKey, Explanation] = OrderedDict()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("pragma journal_mode=wal")
            # A cache: losing the last writes to a power cut is fine, an fsync per entry is not.
            self._db.execute("pragma synchronous=normal")
            self._db.execute(_SCHEMA)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, key: CacheKey) -> Explanation | None:
        customer_id, offer_id, feature_version, model = key
        return self.get_many(customer_id, [offer_id], feature_version, model).get(offer_id)

    def get_many(
        self, customer_id: str, offer_ids: list[str], feature_version: str, model: str
    ) -> dict[str, Explanation]:
        """The cached explanations among one customer's offers, by offer id.

        Memory first, then one query for the rest: a ranking looks up its top offers together
        instead of paying a query per offer.
        """
        found: dict[str, Explanation] = {}
        with self._lock:
            missing = []
            for offer_id in offer_ids:
                key = (customer_id, offer_id, feature_version, model)
                if key in self._items:
                    self._items.move_to_end(key)
                    found[offer_id] = self._items[key]
                else:
                    missing.append(offer_id)
            if self._db is None or not missing:
                return found
            rows = self._db.execute(
                "select offer_id, payload from explanations where customer_id = ? "
                "and feature_version = ? and model = ? "
                f"and offer_id in ({','.join('?' * len(missing))})",
                (customer_id, feature_version, model, *missing),
            ).fetchall()
            for offer_id, payload in rows:
                explanation = Explanation.model_validate_json(payload)
                self._remember((customer_id, offer_id, feature_version, model), explanation)
                found[offer_id] = explanation
        return found

    def put(self, explanation: Explanation) -> None:
        self.put_many([explanation])

    def put_many(self, explanations: Iterable[Explanation]) -> None:
        items = list(explanations)
        with self._lock:
            for e in items:
                self._remember(e.cache_key, e)
            if self._db is not None:
                self._db.execute("begin")
                self._db.executemany(
                    "insert or replace into explanations values (?, ?, ?, ?, ?)",
                    [(*e.cache_key, e.model_dump_json()) for e in items],
                )
                self._db.execute("commit")

    def _remember(self, key: CacheKey, explanation: Explanation) -> None:
        self._items[key] = explanation
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
