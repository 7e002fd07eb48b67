"""The customer rows' version read with the frequency caps, when both live on one Redis.

A ranking-cache hit (:mod:`smartstack.serving.ranking_cache`) reads nothing of the customer but
their rows' version, yet it made three round trips to Redis: the caps' read, the version read
and the caps' update. On a 2-core machine where Redis shares the cores they were about 45% of a
hit's cost. The first two are small reads of the same server made before anything else of the
request, so :class:`ReadAhead` sends them in one pipeline
(:meth:`RedisFrequencyCaps.allowed_and_version`), on a hit and on a miss alike. The update stays
a round trip of its own: it is written once the ranking is known, and sending it without
waiting would save no work (its reply must still be read, for its errors to be counted).

Each read keeps its own failure semantics. The caps' read is behind the caps' breaker, as when
alone. The version is handed to the features' breaker: the ranker still reads it through
``GuardedReader.version``, whose read (:meth:`ReadAhead.version`) returns the version handed to
it (:meth:`AheadVersion.through`) instead of asking Redis again, so an open features circuit
still refuses it and the request falls back, and the read counts as a success. When the version
did not come back (caps off, no offer to check, the caps' circuit open, a failure), the ranker
reads it alone, as it did before, and meets the failure that read meets.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import redis

from smartstack.featurestore.rows import EntityRows, RedisRows
from smartstack.serving.caps import Caps, RedisFrequencyCaps

# A customer's rows' version in the online store (GuardedReader.version)
ReadVersion = Callable[[str], Hashable]


@dataclass(frozen=True)
class AheadVersion:
    """A customer's rows' version, read with their caps and not yet past the features'
    breaker."""

    customer_id: str
    version: Hashable

    def through(self, read: ReadVersion) -> Hashable:
        """The version as ``read`` (``GuardedReader.version`` over :meth:`ReadAhead.version`)
        returns it: handed to that read for this call only, so its breaker decides as for a
        read from Redis (open: refused; closed or half-open: a success)."""
        token = _HANDED.set(self)
        try:
            return read(self.customer_id)
        finally:
            _HANDED.reset(token)


# The version handed to ReadAhead.version, only during AheadVersion.through: per thread and per
# asyncio task, so a concurrent read of the same customer elsewhere asks Redis itself.
_HANDED: ContextVar[AheadVersion | None] = ContextVar("smartstack_ahead_version", default=None)


class ReadAhead:
    """The caps' read with the customer rows' version in one round trip (see the module)."""

    def __init__(
        self, caps: RedisFrequencyCaps, rows: RedisRows, read_version: ReadVersion
    ) -> None:
        """``read_version``: the online reader's own version read
        (``OnlineFeatureReader.version``), for the reads nothing was handed to."""
        self._caps = caps
        self._rows = rows
        self._read_version = read_version

    def allowed(
        self, customer_id: str, offer_ids: Sequence[str]
    ) -> tuple[list[str], AheadVersion | None]:
        """The offers under their caps (:meth:`Caps.allowed`) and the customer's version read
        with them, None when it was not (then read it as without this)."""
        allowed, version = self._caps.allowed_and_version(customer_id, offer_ids, self._rows)
        return allowed, None if version is None else AheadVersion(customer_id, version)

    def version(self, customer_id: str) -> Hashable:
        """The version :meth:`AheadVersion.through` hands over, else read from the store: what
        ``GuardedReader`` is built with."""
        handed = _HANDED.get()
        if handed is not None and handed.customer_id == customer_id:
            return handed.version
        return self._read_version(customer_id)


def read_ahead(caps: Caps, rows: EntityRows, read_version: ReadVersion) -> ReadAhead | None:
    """A :class:`ReadAhead` when the caps and the customer's rows are on one Redis server (same
    host and port or socket, same db); None otherwise (SQLite rows, caps in memory, another
    server or db), and the reads stay apart."""
    if not isinstance(caps, RedisFrequencyCaps) or not isinstance(rows, RedisRows):
        return None
    if _server(caps.client) != _server(rows.client):
        return None
    return ReadAhead(caps, rows, read_version)


def _server(client: redis.Redis) -> tuple[object, ...]:
    kwargs = client.connection_pool.connection_kwargs
    port = kwargs.get("port")
    return (
        kwargs.get("host"),
        None if port is None else int(port),
        kwargs.get("path"),
        int(kwargs.get("db") or 0),
    )
