"""Per-customer frequency caps, and the last-served rankings.

Caps are counted in process memory (exact with one worker process) or, next to a Redis online
store, in Redis, so every worker and replica counts the same servings. Last-served rankings stay
in process memory: they answer when the online store is down, so they cannot live in it. Both
are only useful for recent customers, so the in-memory ones are LRUs bounded by customer count.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import pybreaker
import redis

from smartstack.featurestore.guarded import LogStateChanges
from smartstack.featurestore.rows import RedisRows
from smartstack.serving.metrics import ERRORS

V = TypeVar("V")
T = TypeVar("T")
log = logging.getLogger(__name__)


class Caps(Protocol):
    def allowed(self, customer_id: str, offer_ids: Sequence[str]) -> list[str]: ...

    def record(self, customer_id: str, offer_ids: Sequence[str]) -> None: ...

    def customers(self) -> Iterable[str]:
        """The customers this process holds caps of (erasure: see serving.forgetting)."""
        ...

    def forget(self, customer_ids: set[str]) -> int: ...

    def close(self) -> None: ...


class _Lru(Generic[V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, V] = OrderedDict()

    def get(self, key: str) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def pop(self, key: str) -> bool:
        return self._items.pop(key, None) is not None

    def keys(self) -> list[str]:
        return list(self._items)

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

    def customers(self) -> list[str]:
        with self._lock:
            return self._served.keys()

    def forget(self, customer_ids: set[str]) -> int:
        with self._lock:
            return sum(self._served.pop(c) for c in customer_ids)

    def close(self) -> None:
        """Nothing to release: the counts live and die with the process."""


# Atomically: keep each offer's serve times inside the window, add now, expire the customer key.
_RECORD = """
local since, now, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 4, #ARGV do
  local kept = {}
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  if old then
    for _, t in ipairs(cjson.decode(old)) do
      if t > since then kept[#kept + 1] = t end
    end
  end
  kept[#kept + 1] = now
  redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(kept))
end
redis.call('EXPIRE', KEYS[1], window)
"""


class RedisFrequencyCaps:
    """The same caps, counted in Redis so that every worker process and replica shares them.

    One hash per customer (offer → serve times), read with one ``HMGET`` and updated by one Lua
    script, with short socket timeouts. If Redis cannot answer, caps fail open (the offers are
    allowed, the error counted): a cap is a courtesy, a ranking is the product. A circuit
    breaker stops asking a Redis that keeps failing, so an outage does not add two timeouts to
    every request.
    """

    def __init__(self, url: str, cap: int, window_seconds: float, timeout_s: float = 0.02) -> None:
        self._cap = cap
        self._window = window_seconds
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._record = self._redis.register_script(_RECORD)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=5, reset_timeout=2.0, name="caps", listeners=[LogStateChanges()]
        )

    @staticmethod
    def key(customer_id: str) -> str:
        """The customer's hash (an erasure deletes it)."""
        return f"smartstack:caps:{customer_id}"

    @property
    def client(self) -> redis.Redis:
        """The client the caps are counted with: which server they live on."""
        return self._redis

    def allowed(self, customer_id: str, offer_ids: Sequence[str]) -> list[str]:
        if not self._cap or not offer_ids:
            return list(offer_ids)
        served = self._read(self._redis.hmget, self.key(customer_id), list(offer_ids))
        return list(offer_ids) if served is None else self._under(offer_ids, served)

    def allowed_and_version(
        self, customer_id: str, offer_ids: Sequence[str], rows: RedisRows
    ) -> tuple[list[str], Hashable | None]:
        """:meth:`allowed`, and the customer rows' version (:meth:`RedisRows.version`) read in
        the same pipeline, when ``rows`` are on this server (:mod:`smartstack.serving.read_ahead`
        says why). The pipeline goes on the rows' client, so it waits the online store's
        deadline, as the version read alone would. The caps' reply goes through this breaker as
        in :meth:`allowed`; the version is None whenever it was not read (caps off, no offers,
        the circuit open, a failure): the caller then reads it alone, as it would without this.
        """
        if not self._cap or not offer_ids:
            return list(offer_ids), None
        key, fields = self.key(customer_id), list(offer_ids)

        def both() -> tuple[list[bytes | None], list[bytes | None] | Exception]:
            with rows.client.pipeline(transaction=False) as pipe:
                pipe.hmget(key, fields)
                rows.queue_version(pipe, customer_id)
                # An error reply is the failure of its own command only: the caps' one is
                # raised here, under this breaker; the version's leaves the version unread.
                served, stamps = pipe.execute(raise_on_error=False)
            if isinstance(served, Exception):
                raise served
            return served, stamps

        replies = self._read(both)
        if replies is None:
            return list(offer_ids), None
        served, stamps = replies
        version = None if isinstance(stamps, Exception) else rows.version_from(stamps)
        return self._under(offer_ids, served), version

    def _read(self, call: Callable[..., T], *args: object) -> T | None:
        """``call`` behind the breaker; None (counted, and logged unless the circuit is open)
        when Redis cannot answer, and the caps fail open."""
        try:
            return self._breaker.call(call, *args)
        except pybreaker.CircuitBreakerError:  # counted; logged once, as the breaker opened
            ERRORS.labels(kind="caps_unavailable").inc()
        except redis.RedisError as exc:
            ERRORS.labels(kind="caps_unavailable").inc()
            log.warning("frequency caps unavailable, not applied: %r", exc)
        return None

    def _under(self, offer_ids: Sequence[str], served: list[bytes | None]) -> list[str]:
        """The offers served fewer than ``cap`` times within the window (``served``: each
        offer's serve times as stored, None for none)."""
        since = time.time() - self._window
        return [
            o
            for o, times in zip(offer_ids, served, strict=True)
            if times is None or sum(t > since for t in json.loads(times)) < self._cap
        ]

    def record(self, customer_id: str, offer_ids: Sequence[str]) -> None:
        if not self._cap or not offer_ids:
            return
        now = time.time()
        try:
            self._breaker.call(
                self._record,
                keys=[self.key(customer_id)],
                args=[now - self._window, now, max(1, round(self._window)), *offer_ids],
            )
        except pybreaker.CircuitBreakerError:
            ERRORS.labels(kind="caps_unavailable").inc()
        except redis.RedisError as exc:
            ERRORS.labels(kind="caps_unavailable").inc()
            log.warning("frequency caps not recorded: %r", exc)

    def customers(self) -> list[str]:
        return []  # nothing in this process: an erasure deletes the customer's key in Redis

    def forget(self, customer_ids: set[str]) -> int:
        return 0

    def close(self) -> None:
        self._redis.close()


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

    def drop(self, customer_id: str) -> None:
        """Forget the customer's ranking (they no longer consent to personalization)."""
        with self._lock:
            self._rankings.pop(customer_id)

    def customers(self) -> list[str]:
        with self._lock:
            return self._rankings.keys()

    def forget(self, customer_ids: set[str]) -> int:
        with self._lock:
            return sum(self._rankings.pop(c) for c in customer_ids)
