"""Writes recent spend into the stream view ``customer_recent_spend`` of the online store.

One write per micro-batch, one row per customer the batch touched, holding only the categories
whose value changed, through Feast's online-store write API (``online_write_batch``, the call a
push ends in). ``FeatureStore.push`` itself takes a DataFrame with every column, converts it
through Arrow to protobufs and costs tens of milliseconds per call: pushing each event alone
caps a stream at a few dozen events per second, and even a batched push spends more time
converting than writing (see docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from feast import FeatureStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from smartstack.data.schema import MERCHANT_CATEGORIES

STREAM_VIEW = "customer_recent_spend"
PUSH_SOURCE = "customer_recent_spend_push"
FEATURE_PREFIX = "recent_spend_"
_KEY_CACHE = 200_000  # customers whose serialized-ready entity key is kept


class StreamViewMismatch(RuntimeError):
    """The registered stream view does not have one feature per merchant category."""


class OnlineSpendWriter:
    """Writes ``(customer_id, as_of, {category index: spend})`` rows to the stream view."""

    def __init__(self, store: FeatureStore) -> None:
        view = store.get_stream_feature_view(STREAM_VIEW)
        names = {field.name for field in view.features}
        self._names = [f"{FEATURE_PREFIX}{c}" for c in MERCHANT_CATEGORIES]
        missing = [name for name in self._names if name not in names]
        if missing:
            raise StreamViewMismatch(
                f"the registry's {STREAM_VIEW} view lacks {', '.join(missing)}"
            )
        self._view = view
        self._join_key = view.entity_columns[0].name
        self._config = store.config
        self._online_store = store._get_provider().online_store
        self._keys: dict[str, EntityKey] = {}

    def write(self, rows: Iterable[tuple[str, datetime, dict[int, float]]]) -> int:
        """Write the rows in one call; returns how many."""
        written = datetime.now(UTC)
        data = [
            (
                self._key(customer),
                {self._names[c]: Value(double_val=v) for c, v in values.items()},
                as_of,
                written,
            )
            for customer, as_of, values in rows
        ]
        if data:
            self._online_store.online_write_batch(self._config, self._view, data, None)
        return len(data)

    def _key(self, customer: str) -> EntityKey:
        key = self._keys.get(customer)
        if key is None:
            if len(self._keys) >= _KEY_CACHE:
                self._keys.clear()
            key = self._keys[customer] = entity_key(self._join_key, customer)
        return key


def entity_key(join_key: str, value: str) -> EntityKey:
    """The online store's key of one entity with a single string join key."""
    key = EntityKey(join_keys=[join_key])
    key.entity_values.add().string_val = value
    return key
