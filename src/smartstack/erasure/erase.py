"""Erase one customer from every store: suppress first, then each store in turn, resumable.

The request is recorded (:class:`~smartstack.privacy.requests.ErasureRequests`) and the
customer suppressed before any store is touched, so an ingest, replay or pipeline run that
starts meanwhile already leaves them out. Each store finished is marked; a run that stops
(a store down, a crash) is resumed by the next, which skips what was marked and erases the
rest. The audit log records the request, each interruption (with the stores done) and the
completion with what each store removed, naming the customer only by reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow.compute as pc
import pyarrow.dataset as ds

from smartstack.engagement.rules import load_rules
from smartstack.engagement.store import open_store
from smartstack.erasure.stores import CUSTOMER_TABLES, STORES, Store
from smartstack.events.consent_table import consent_events_dir
from smartstack.events.feedback_table import feedback_dir
from smartstack.events.quiz_table import quiz_answers_dir
from smartstack.privacy.audit import AuditLog
from smartstack.privacy.locks import rewriting
from smartstack.privacy.requests import ErasureRequest, ErasureRequests
from smartstack.privacy.suppression import SuppressionList
from smartstack.settings import Settings

Progress = Callable[[Store], None]


class UnknownCustomer(LookupError):
    """No store knows the id: nothing was touched."""


class AlreadyErased(LookupError):
    """The customer was erased before (their reference is on the suppression list)."""


class ErasureInterrupted(RuntimeError):
    """A store could not be erased; the next run resumes from it."""

    def __init__(self, customer_ref: str, store: str, reason: str, done: tuple[str, ...]) -> None:
        super().__init__(f"{store}: {reason}")
        self.customer_ref = customer_ref
        self.store = store
        self.reason = reason
        self.done = done


@dataclass(frozen=True)
class StoreResult:
    store: str
    removed: int
    how: str


@dataclass(frozen=True)
class ErasureReport:
    customer_ref: str
    resumed_after: tuple[str, ...]  # stores an earlier, interrupted run had finished
    results: tuple[StoreResult, ...]


def is_known(settings: Settings, customer_id: str) -> bool:
    """Whether any source of customers holds the id: raw tables, landed events (a cold-start
    customer has no raw row), the ranking log, engagement."""
    for table in CUSTOMER_TABLES:
        folder = settings.raw_dir / table
        if folder.is_dir() and _holds(folder, customer_id):
            return True
    for folder in (
        feedback_dir(settings),
        quiz_answers_dir(settings),
        consent_events_dir(settings),
        settings.ranking_log_dir,
    ):
        if folder.is_dir() and _holds(folder, customer_id):
            return True
    engagement = open_store(settings, load_rules(settings.engagement.rules))
    try:
        return engagement.get(customer_id) is not None
    finally:
        engagement.close()


def _holds(folder: object, customer_id: str) -> bool:
    dataset = ds.dataset(folder, format="parquet", exclude_invalid_files=True)
    if "customer_id" not in dataset.schema.names:
        return False
    found = dataset.head(1, columns=["customer_id"], filter=pc.field("customer_id") == customer_id)
    return found.num_rows > 0


def erase_customer(
    settings: Settings, customer_id: str, source: str = "cli", progress: Progress | None = None
) -> ErasureReport:
    """Erase (or go on erasing) one customer. Raises :class:`UnknownCustomer` before touching
    anything, :class:`AlreadyErased`, or :class:`ErasureInterrupted` naming the store.

    One erasure (or retention run) at a time across processes: they rewrite the same parts."""
    with rewriting(settings):
        return _erase(settings, customer_id, source, progress)


def _erase(
    settings: Settings, customer_id: str, source: str, progress: Progress | None
) -> ErasureReport:
    requests = ErasureRequests.from_settings(settings)
    suppression = SuppressionList.from_settings(settings)
    audit = AuditLog.from_settings(settings)
    ref = audit.customer(customer_id)
    try:
        request = requests.get(customer_id) or _request(
            settings, customer_id, source, requests, suppression, audit
        )
        suppression.add(customer_id)  # again on a resume: a crash may have come in between
        done = list(request.done)
        results: list[StoreResult] = []
        for store in STORES:
            if store.name in done:
                continue
            if progress is not None:
                progress(store)
            try:
                removed = store.erase(settings, customer_id)
            except Exception as exc:  # any store's failure: record, stop, resume next time
                reason = f"{type(exc).__name__}: {exc}".replace(customer_id, ref)[:300]
                audit.append(
                    "erasure_interrupted", source, customer=ref, done=done,
                    failed=store.name, reason=reason,
                )  # fmt: skip
                raise ErasureInterrupted(ref, store.name, reason, tuple(done)) from None
            requests.mark_done(customer_id, store.name)
            done.append(store.name)
            results.append(StoreResult(store.name, removed, store.how))
        audit.append(
            "erasure_completed", source, customer=ref,
            removed={r.store: r.removed for r in results}, resumed_after=list(request.done),
        )  # fmt: skip
        requests.finish(customer_id)
        return ErasureReport(ref, request.done, tuple(results))
    finally:
        requests.close()
        suppression.close()


def request_erasure(settings: Settings, customer_id: str, source: str) -> ErasureRequest:
    """Record the request and suppress the customer (what must be durable before an erasure is
    acknowledged); the stores are erased by :func:`erase_customer`. A pending request is
    returned as it is. Raises :class:`UnknownCustomer` or :class:`AlreadyErased`."""
    requests = ErasureRequests.from_settings(settings)
    suppression = SuppressionList.from_settings(settings)
    try:
        return requests.get(customer_id) or _request(
            settings, customer_id, source, requests, suppression, AuditLog.from_settings(settings)
        )
    finally:
        requests.close()
        suppression.close()


def _request(
    settings: Settings,
    customer_id: str,
    source: str,
    requests: ErasureRequests,
    suppression: SuppressionList,
    audit: AuditLog,
) -> ErasureRequest:
    if customer_id in suppression:
        raise AlreadyErased(customer_id)
    if not is_known(settings, customer_id):
        raise UnknownCustomer(customer_id)
    request = requests.add(customer_id, source)
    suppression.add(customer_id)
    audit.append("erasure_requested", source, customer=audit.customer(customer_id))
    return request
