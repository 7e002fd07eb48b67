"""Online reads behind a circuit breaker: a failed read is a reason to fall back, not an error.

The deadline is the store client's own timeout (``OnlineFeatureReader``'s ``timeout_s``:
SQLite's lock wait, Redis socket timeouts), so a read runs on the caller's thread with no
hand-off to a pool. After ``breaker_failures`` failed reads in a row the circuit opens
(pybreaker): reads fail at once, so callers go straight to their fallback instead of each
waiting out the deadline, until a trial read after ``breaker_reset_s`` succeeds.
``breaker_failures=0`` never opens it (batch jobs, where nobody waits on one read).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime
from typing import TypeVar

import pybreaker

from smartstack.featurestore.online import OnlineFeatures
from smartstack.featurestore.rows import ReadTimeout

log = logging.getLogger(__name__)

ReadFeatures = Callable[[str, Sequence[str], datetime], OnlineFeatures]
T = TypeVar("T")


class FeaturesUnavailable(Exception):
    """The online store could not be read; ``kind`` says how (circuit open, timeout, error)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class LogStateChanges(pybreaker.CircuitBreakerListener):
    """One line per breaker state change: an outage is logged twice (open, closed), not once
    per request it turns away."""

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old: pybreaker.CircuitBreakerState | None,
        new: pybreaker.CircuitBreakerState,
    ) -> None:
        log.warning("%s circuit: %s -> %s", cb.name, old.name if old else None, new.name)


class GuardedReader:
    """A feature read that raises :class:`FeaturesUnavailable` instead of the store's errors;
    ``version`` (the customer rows' version, :meth:`OnlineFeatureReader.version`) behind the
    same breaker."""

    def __init__(
        self,
        read: ReadFeatures,
        breaker_failures: int = 5,
        breaker_reset_s: float = 2.0,
        version: Callable[[str], Hashable] | None = None,
    ) -> None:
        self._read = read
        self._version = version
        self._breaker = (
            pybreaker.CircuitBreaker(
                fail_max=breaker_failures,
                reset_timeout=breaker_reset_s,
                listeners=[LogStateChanges()],
                name="online-store",
            )
            if breaker_failures
            else None
        )

    def __call__(self, customer_id: str, offer_ids: Sequence[str], at: datetime) -> OnlineFeatures:
        return self._guarded(self._read, customer_id, offer_ids, at)

    def version(self, customer_id: str) -> Hashable:
        if self._version is None:
            raise TypeError("this reader was built without a version read")
        return self._guarded(self._version, customer_id)

    def _guarded(self, call: Callable[..., T], *args: object) -> T:
        try:
            if self._breaker is None:
                return call(*args)
            return self._breaker.call(call, *args)
        except pybreaker.CircuitBreakerError:
            raise FeaturesUnavailable("feature_store_circuit_open") from None
        except ReadTimeout:
            raise FeaturesUnavailable("feature_store_timeout") from None
        except Exception as exc:
            log.warning("online feature read failed: %r", exc)
            raise FeaturesUnavailable("feature_store_error") from exc
