"""Locust user for ``bench/bench_serving.py``: one customer × 30 candidate offers per request.

Configured by environment variables (set by the bench script): ``BENCH_CUSTOMERS`` (a file with
one customer id a line), ``BENCH_OFFERS`` (comma-separated candidates), ``BENCH_TIMESTAMP``,
``BENCH_RATE`` (Poisson arrivals, requests/s per user; 0 = back to back) and ``BENCH_OUT`` (where the exact
latencies go). Locust's own percentiles are rounded to whole milliseconds, too coarse for a
3 ms goal, so every response time is kept and the script computes the percentiles.
"""

from __future__ import annotations

import json
import os
import random
import time

from locust import FastHttpUser, events, task

CUSTOMERS = open(os.environ["BENCH_CUSTOMERS"]).read().split()  # noqa: SIM115
OFFERS = os.environ["BENCH_OFFERS"].split(",")
TIMESTAMP = os.environ["BENCH_TIMESTAMP"]
RATE = float(os.environ.get("BENCH_RATE", "0"))
LATENCIES: list[float] = []
FAILURES: list[str] = []


@events.request.add_listener
def _record(response_time: float, exception: Exception | None, **_: object) -> None:
    if exception is None:
        LATENCIES.append(response_time)
    else:
        FAILURES.append(repr(exception)[:200])


@events.quitting.add_listener
def _dump(environment: object, **_: object) -> None:
    with open(os.environ["BENCH_OUT"], "w") as out:
        json.dump(
            {"latencies_ms": LATENCIES, "failures": FAILURES[:20], "n_failures": len(FAILURES)}, out
        )


class Ranker(FastHttpUser):
    _next_arrival = 0.0

    def wait_time(self) -> float:
        """Poisson arrivals at ``RATE`` per user (open loop), or back to back when 0.

        Locust's ``constant_throughput`` keeps every user on the same beat, so a fixed rate
        arrives as synchronized bursts; exponential gaps make the sum of users a Poisson stream.
        """
        if not RATE:
            return 0.0
        now = time.monotonic()
        self._next_arrival = max(self._next_arrival, now - 1.0) + random.expovariate(RATE)
        return max(0.0, self._next_arrival - now)

    @task
    def rank(self) -> None:
        body = {
            "customer_id": random.choice(CUSTOMERS),
            "context": {"channel": "app", "timestamp": TIMESTAMP},
            "candidate_offer_ids": OFFERS,
            "k": 10,
        }
        with self.client.post("/rank", json=body, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
