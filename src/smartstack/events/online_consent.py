"""Writes live consent into the feature view ``customer_consent`` of the online store.

A consent change is landed for dbt (the mart ``customer_consent``, which materialization loads)
and written here at once, so what reads consent online (serving, messaging) sees a refusal
within seconds rather than after the next batch run. Values are Int32 0/1, as in the mart; a
purpose never recorded has no value (null). Written through ``online_write_batch``, like the
other live views (:mod:`smartstack.events.online_writer` says why not ``FeatureStore.push``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow.compute as pc
from feast import FeatureStore
from feast.protos.feast.types.Value_pb2 import Value

from smartstack.events.consent_table import ConsentTable
from smartstack.events.online_writer import ViewWriter, entity_key
from smartstack.privacy.purposes import CONSENT_COLUMNS, CONSENT_VIEW, Purpose

CONSENT_PUSH_SOURCE = "customer_consent_push"


@dataclass(frozen=True)
class ConsentRow:
    """One customer's consent after a change, as the online store keeps it."""

    customer_id: str
    changed_at: datetime  # UTC; the row's event time
    personalization: bool
    llm_messaging: bool
    analytics: bool

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> ConsentRow:
        """From an event's fields (``ConsentEvent`` dumped, or a landed row)."""
        return cls(
            event["customer_id"],
            event["changed_at"],
            *(bool(event[p.value]) for p in Purpose),
        )

    def values(self) -> dict[str, Value]:
        return {CONSENT_COLUMNS[p]: Value(int32_val=int(getattr(self, p.value))) for p in Purpose}


class OnlineConsentWriter:
    """Writes each customer's newest consent of a batch to ``customer_consent``."""

    def __init__(self, store: FeatureStore) -> None:
        self._writer = ViewWriter(
            store, store.get_feature_view(CONSENT_VIEW), tuple(CONSENT_COLUMNS.values())
        )

    def write(self, rows: Iterable[ConsentRow]) -> int:
        """Write the rows in one call; returns how many were written. Of a customer's changes
        in one batch only the newest (by event time) is written, whatever order they came in:
        the store keeps one row per customer and the last write wins."""
        newest: dict[str, ConsentRow] = {}
        for row in rows:
            kept = newest.get(row.customer_id)
            if kept is None or row.changed_at > kept.changed_at:
                newest[row.customer_id] = row
        return self._writer.write_rows(
            [
                (entity_key(self._writer.join_key, row.customer_id), row.values(), row.changed_at)
                for row in newest.values()
            ]
        )


def restore_live_consent(table: ConsentTable, writer: OnlineConsentWriter, after: datetime) -> int:
    """Write again each customer's newest landed consent changed after ``after``.

    A materialization loads the consent mart up to the data set's snapshot; on SQLite the last
    write wins, so it would put the older recorded consent over a live change made since (a
    withdrawal undone until the next batch run). Called right after materializing; returns how
    many customers' consent was written."""
    changes = table.read().filter(pc.field("changed_at") > after).to_pylist()
    return writer.write(ConsentRow.of(change) for change in changes)
