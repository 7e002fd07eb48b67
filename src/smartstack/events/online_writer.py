"""Writes live rows into views of the online store: recent spend here, quiz answers and
engagement signals beside it (:class:`ViewWriter` is what the three share).

Recent spend goes to the stream view ``customer_recent_spend``: one write per micro-batch, one
row per customer the batch touched, holding only the categories whose value changed, through
Feast's online-store write API (``online_write_batch``, the call a push ends in).
``FeatureStore.push`` itself takes a DataFrame with every column, converts it through Arrow to
protobufs and costs tens of milliseconds per call: pushing each event alone caps a stream at a
few dozen events per second, and even a batched push spends more time converting than writing
(see docs/benchmarks.md).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from feast import FeatureStore, FeatureView
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from smartstack.data.schema import MERCHANT_CATEGORIES

STREAM_VIEW = "customer_recent_spend"
PUSH_SOURCE = "customer_recent_spend_push"
FEATURE_PREFIX = "recent_spend_"
_KEY_CACHE = 200_000  # customers whose serialized-ready entity key is kept


# One lock per online-store object: Feast's SQLite store shares one connection among every
# writer of a process (``check_same_thread=False``) and wraps each batch in ``with conn:``, so two
# threads writing at once (concurrent ``/feedback`` in the service: quiz, consent and engagement
# signals) interleave their implicit transactions ("cannot start a transaction within a
# transaction", or one thread committing the other's half-written batch). Redis needs no lock,
# and one uncontended lock per batch costs nothing.
_WRITE_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def _write_lock(online_store: Any) -> threading.Lock:
    with _LOCKS_LOCK:
        lock = _WRITE_LOCKS.get(online_store)
        if lock is None:
            lock = _WRITE_LOCKS[online_store] = threading.Lock()
        return lock


class ViewMismatch(RuntimeError):
    """A registered view lacks a feature its writer writes."""


# One row: the entity's key, its values by feature name, and the row's event time.
ViewRow = tuple[EntityKey, dict[str, Value], datetime]


class ViewWriter:
    """Rows of one view through the online store's ``online_write_batch``, in one call."""

    def __init__(self, store: FeatureStore, view: FeatureView, features: Iterable[str]) -> None:
        names = {field.name for field in view.features}
        missing = [name for name in features if name not in names]
        if missing:
            raise ViewMismatch(f"the registry's {view.name} view lacks {', '.join(missing)}")
        self.join_key = view.entity_columns[0].name
        self._view = view
        self._config = store.config
        self._online_store = store._get_provider().online_store
        self._lock = _write_lock(self._online_store)

    def write_rows(self, rows: list[ViewRow]) -> int:
        """Write the rows (stamped as written now); returns how many."""
        written = datetime.now(UTC)
        if rows:
            batch = [(key, values, at, written) for key, values, at in rows]
            with self._lock:  # one batch at a time per store (see _WRITE_LOCKS)
                self._online_store.online_write_batch(self._config, self._view, batch, None)
        return len(rows)


class OnlineSpendWriter:
    """Writes ``(customer_id, as_of, {category index: spend})`` rows to the stream view."""

    def __init__(self, store: FeatureStore) -> None:
        self._names = [f"{FEATURE_PREFIX}{c}" for c in MERCHANT_CATEGORIES]
        self._writer = ViewWriter(store, store.get_stream_feature_view(STREAM_VIEW), self._names)
        self._keys: dict[str, EntityKey] = {}

    def write(self, rows: Iterable[tuple[str, datetime, dict[int, float]]]) -> int:
        """Write the rows in one call; returns how many."""
        return self._writer.write_rows(
            [
                (
                    self._key(customer),
                    {self._names[c]: Value(double_val=v) for c, v in values.items()},
                    as_of,
                )
                for customer, as_of, values in rows
            ]
        )

    def _key(self, customer: str) -> EntityKey:
        key = self._keys.get(customer)
        if key is None:
            if len(self._keys) >= _KEY_CACHE:
                self._keys.clear()
            key = self._keys[customer] = entity_key(self._writer.join_key, customer)
        return key


def entity_key(join_key: str, value: str) -> EntityKey:
    """The online store's key of one entity with a single string join key."""
    key = EntityKey(join_keys=[join_key])
    key.entity_values.add().string_val = value
    return key
