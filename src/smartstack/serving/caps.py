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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import pybreaker
import redis

from smartstack.featurestore.guarded import LogStateChanges
from smartstack.serving.metrics import ERRORS

V = TypeVar("V")
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

    A serving is sent on a connection of its own and its reply is read later (:meth:`settle`),
    before this instance's next read or serving: the request does not wait a round trip for a
    script that answers nothing, and this worker still never reads its caps before Redis has
    applied its own earlier servings. The script is sent whole (``EVAL``, which Redis caches by
    its hash), so no reply can ask for it to be loaded and the serving sent again.
    """

    def __init__(self, url: str, cap: int, window_seconds: float, timeout_s: float = 0.02) -> None:
        self._cap = cap
        self._window = window_seconds
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._sender = self._redis.connection_pool.make_connection()
        self._unread = 0  # servings sent whose reply is not read yet
        self._sending = threading.Lock()
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=5, reset_timeout=2.0, name="caps", listeners=[LogStateChanges()]
        )

    @staticmethod
    def key(customer_id: str) -> str:
        """The customer's hash (an erasure deletes it)."""
        return f"smartstack:caps:{customer_id}"

    def allowed(self, customer_id: str, offer_ids: Sequence[str]) -> list[str]:
        if not self._cap or not offer_ids:
            return list(offer_ids)
        self.settle()
        try:
            served = self._breaker.call(self._redis.hmget, self.key(customer_id), list(offer_ids))
        except pybreaker.CircuitBreakerError:  # counted; logged once, as the breaker opened
            ERRORS.labels(kind="caps_unavailable").inc()
            return list(offer_ids)
        except redis.RedisError as exc:
            ERRORS.labels(kind="caps_unavailable").inc()
            log.warning("frequency caps unavailable, not applied: %r", exc)
            return list(offer_ids)
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
        window = max(1, round(self._window))
        command = ("EVAL", _RECORD, 1, self.key(customer_id), now - self._window, now, window)
        try:
            self._breaker.call(self._send, (*command, *offer_ids))
        except pybreaker.CircuitBreakerError:
            ERRORS.labels(kind="caps_unavailable").inc()
        except redis.RedisError as exc:
            _not_recorded(exc)

    def settle(self) -> None:
        """Wait until Redis has applied every serving this instance sent. Servings whose
        replies cannot be read are counted and logged as lost, like one that could not be sent."""
        if not self._unread:
            return
        try:
            with self._sending:
                self._read_replies()
        except redis.RedisError as exc:
            _not_recorded(exc)

    def _send(self, command: tuple[object, ...]) -> None:
        with self._sending:
            self._read_replies()
            self._sender.send_command(*command)  # a failed send disconnects
            self._unread += 1

    def _read_replies(self) -> None:
        """Read the replies of the servings sent (the caller holds ``_sending``). A serving
        Redis refused is counted and logged, and the connection stays usable; a broken
        connection loses the replies with it, and raises."""
        while self._unread:
            self._unread -= 1
            try:
                self._sender.read_response()
            except redis.ResponseError as exc:
                _not_recorded(exc)
            except redis.RedisError:
                self._unread = 0
                self._sender.disconnect()
                raise

    def customers(self) -> list[str]:
        return []  # nothing in this process: an erasure deletes the customer's key in Redis

    def forget(self, customer_ids: set[str]) -> int:
        return 0

    def close(self) -> None:
        self.settle()
        self._sender.disconnect()
        self._redis.close()


def _not_recorded(exc: redis.RedisError) -> None:
    """A serving Redis did not record: counted and logged."""
    ERRORS.labels(kind="caps_unavailable").inc()
    log.warning("frequency caps not recorded: %r", exc)


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
