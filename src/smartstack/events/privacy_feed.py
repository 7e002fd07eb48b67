"""What the stream and the service do with privacy: consent changes and erasure requests
recorded, and the events of erased customers dropped wherever events enter.

- A consent change (``ConsentEvent``) is appended to the audit log (``action="consent"``, the
  recording system as actor, the customer by reference only) before it is landed, so a crash
  in between gives a second record with the same event id on redelivery, never a gap.
- An erasure request (``ErasureEvent``) is audited (``erasure_requested``), written to the
  erasure work list and the customer suppressed, in that order; every step is idempotent. The
  erasing itself is ``smartstack privacy erase``.
- Suppressed customers: each batch asks the suppression list once which of its customers are
  erased (:meth:`PrivacyRecords.suppressed`; with an empty list that costs one small query) and
  drops their events, counted in ``smartstack_suppressed_events`` by where they were dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from prometheus_client import Counter

from smartstack.events.contracts import ConsentEvent, ErasureEvent
from smartstack.privacy.audit import AuditLog
from smartstack.privacy.requests import ErasureRequests
from smartstack.privacy.suppression import SuppressionList
from smartstack.settings import Settings

log = logging.getLogger(__name__)

SUPPRESSED_EVENTS = Counter(
    "smartstack_suppressed_events",
    "Events of erased (suppressed) customers dropped, by where they were dropped.",
    ["path"],
)


class _OfCustomer(Protocol):
    @property
    def customer_id(self) -> str: ...


E = TypeVar("E", bound=_OfCustomer)


def drop_suppressed(events: Sequence[E], suppressed: set[str]) -> list[E]:
    """The events whose customer is not in ``suppressed``."""
    if not suppressed:
        return list(events)
    return [e for e in events if e.customer_id not in suppressed]


def count_dropped(path: str, dropped: int, customers: int) -> None:
    """The metric and a log line for ``dropped`` events of ``customers`` suppressed customers."""
    if dropped:
        SUPPRESSED_EVENTS.labels(path).inc(dropped)
        log.info("%s: dropped %d events of %d suppressed customers", path, dropped, customers)


class PrivacyRecords:
    """The suppression list, the erasure work list and the audit log, as the event paths use
    them (safe to share between a server's threads: each record keeps its own lock)."""

    def __init__(
        self, suppression: SuppressionList, requests: ErasureRequests, audit: AuditLog
    ) -> None:
        self.suppression = suppression
        self.requests = requests
        self.audit = audit

    @classmethod
    def from_settings(cls, settings: Settings) -> PrivacyRecords:
        return cls(
            SuppressionList.from_settings(settings),
            ErasureRequests.from_settings(settings),
            AuditLog.from_settings(settings),
        )

    def suppressed(self, customer_ids: Iterable[str]) -> set[str]:
        """Which of these customers are erased (one look-up per batch)."""
        return self.suppression.suppressed(customer_ids)

    def consent_changed(self, events: Sequence[ConsentEvent]) -> None:
        """One audit record per change, the customer by reference."""
        for event in events:
            self.audit.append(
                "consent",
                event.source,
                customer=self.audit.customer(event.customer_id),
                event=event.event_id,
                changed_at=event.changed_at.isoformat(),
                personalization=event.personalization,
                llm_messaging=event.llm_messaging,
                analytics=event.analytics,
            )

    def erasure_requested(self, events: Sequence[ErasureEvent]) -> set[str]:
        """Record each customer's request and suppress them; returns the customers."""
        customers: set[str] = set()
        for event in events:
            if event.customer_id in customers:
                continue
            customers.add(event.customer_id)
            self.audit.append(
                "erasure_requested",
                "event",
                customer=self.audit.customer(event.customer_id),
                event=event.event_id,
                requested_at=event.requested_at.isoformat(),
            )
            self.requests.add(event.customer_id, "event")
            self.suppression.add(event.customer_id)
        return customers

    def close(self) -> None:
        self.suppression.close()
        self.requests.close()
