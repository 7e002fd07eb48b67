"""Load shedding: a worker whose event loop runs behind answers ``/rank`` from its cheap tiers.

``/rank`` runs on the worker's event loop, so a worker offered more model rankings than its core
can score builds a queue that nothing drains: requests wait, clients time out and retry, and the
worker keeps scoring requests whose callers have gone. The chaos run showed that state outliving
the fault that caused it (after a Redis pause the service stayed overloaded until the load
stopped), and the thread-pool endpoints (``/feedback``, ``/explain``) starved behind it.

The measure of "behind" is the loop's lag: a task on the loop sleeps a short interval and
notes how late it woke up, which is how long a request arriving now waits for the loop. Above
the threshold in two samples in a row (one late wake-up is a pause, such as a collection, not
a queue) the worker sheds: ``/rank`` answers as during a feature-store outage (the
customer's last served ranking, else popularity; the tier says so, ``smartstack_rank_errors
{kind="overload"}`` counts them) without reading features or scoring, which costs a fraction of
a model ranking. It stops shedding once the lag is below half the threshold, so under a load
just above capacity a share of requests is shed, not all of them. It is the seed's crisis plan
("auto-switch to cached personalized offers") applied to overload.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


class LoopLag:
    """Whether this worker should shed, from its event loop's measured lag.

    ``threshold_s`` of 0 never sheds. :meth:`watch` starts the sampling task on the running
    loop (the service calls it from ``/rank``: the loop exists only once the worker serves).
    """

    def __init__(self, threshold_s: float, interval_s: float = 0.01) -> None:
        self.threshold_s = threshold_s
        self.interval_s = interval_s
        self.shedding = False
        self._late = 0  # samples in a row above the threshold
        self._task: asyncio.Task[None] | None = None

    def watch(self) -> None:
        """Start sampling on the running loop, once."""
        if self._task is None and self.threshold_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._sample())

    def observe(self, lag_s: float) -> None:
        """Take one sample: shed after two above the threshold, stop below half of it."""
        self._late = self._late + 1 if lag_s > self.threshold_s else 0
        if not self.shedding and self._late >= 2:
            self.shedding = True
            log.warning(
                "event loop %.0f ms behind (threshold %.0f ms): answering /rank from the "
                "cheap tiers until it catches up",
                lag_s * 1000,
                self.threshold_s * 1000,
            )
        elif self.shedding and lag_s < self.threshold_s / 2:
            self.shedding = False
            log.warning("event loop caught up: /rank scores again")

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.observe(max(0.0, loop.time() - due))

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
