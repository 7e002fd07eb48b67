"""Erased customers leave this worker's memory: frequency caps, last-served rankings, cached
rankings and cached explanations.

An erasure runs in another process (the CLI, the admin endpoint of another worker, the stream
processor), so it cannot reach into each worker's memory. Each worker follows the suppression
list instead: when it grows, the worker asks which of the customers it holds are on it (their
references, computed from the ids held: the list keeps no ids) and drops them. It runs on the
state poller's beat, so every worker forgets within ``model_poll_seconds``; the worker that
served ``POST /admin/erase`` forgets at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from smartstack.privacy.suppression import SuppressionList

log = logging.getLogger(__name__)


class CustomerMemory(Protocol):
    """A per-process cache keyed by customer."""

    def customers(self) -> Iterable[str]: ...

    def forget(self, customer_ids: set[str]) -> int: ...


class Forgetting:
    def __init__(self, suppression: SuppressionList, memories: Sequence[CustomerMemory]) -> None:
        self._suppression = suppression
        self._memories = memories
        self._refs = suppression.refs()

    def erased(self, customer_id: str) -> bool:
        """Whether the customer was erased (as of this worker's last look at the list): a
        request about them is answered but leaves nothing behind."""
        return bool(self._refs) and self._suppression.ref(customer_id) in self._refs

    def erased_now(self, customer_ids: Iterable[str]) -> set[str]:
        """Which of these customers are erased, as the list has it now (not as of the last
        poll): what a log writer checks before it writes."""
        return self._suppression.suppressed(customer_ids)

    def poll(self) -> int:
        """Sweep if the list grew since the last look; returns how many entries were dropped."""
        if len(self._suppression) == len(self._refs):
            return 0
        return self.sweep()

    def sweep(self) -> int:
        """Read the list again and drop every erased customer this worker holds."""
        self._refs = self._suppression.refs()
        held: set[str] = set()
        for memory in self._memories:
            held.update(memory.customers())
        erased = self._suppression.suppressed(held)
        if not erased:
            return 0
        dropped = sum(memory.forget(erased) for memory in self._memories)
        log.info("dropped %d cached entries of %d erased customers", dropped, len(erased))
        return dropped

    def close(self) -> None:
        self._suppression.close()
