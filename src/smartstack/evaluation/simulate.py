"""Customers replayed through the real service, their reactions drawn from the synthetic
generator's hidden model: simulated logs whose true value is known.

Each simulated request is a ``POST /rank`` (as a server-to-server caller, with a time shortly
before the data set's snapshot and a channel), so it goes through everything a live one does:
assignment to an arm, exploration, the shadow ranker, the ranking log. For each shown offer a
click is drawn with the hidden model's probability at that position, a redemption given the
click with its conditional probability, and both go back as ``POST /feedback`` events with the
ranking's ``request_id``, as the web app would send them. Synthetic data only: the hidden model
is :class:`smartstack.datasets.synthetic.truth.HiddenUtility`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import numpy as np
import pandas as pd
from tenacity import retry, retry_if_result, stop_after_attempt, wait_exponential

from smartstack.data.schema import IMPRESSION_CHANNELS
from smartstack.datasets.synthetic.truth import HiddenUtility


@dataclass(frozen=True)
class SimulatedRequest:
    customer_id: str
    at: datetime
    channel: str


@dataclass(frozen=True)
class Simulated:
    """What one simulation sent and drew."""

    requests: int
    shown: int
    clicks: int
    redemptions: int
    refused: int  # requests or events the service did not take (status >= 400)
    served: pd.DataFrame  # request_id, customer_id, at, channel, position, offer_id, clicked


def plan(
    customers: np.ndarray, count: int, snapshot: datetime, window: timedelta, seed: int
) -> list[SimulatedRequest]:
    """``count`` requests: customers drawn uniformly, times uniform in the ``window`` before
    the snapshot (an hour clear of it), channels in the generator's shares."""
    rng = np.random.default_rng(seed)
    who = rng.choice(customers, count)
    span = (window - timedelta(hours=1)).total_seconds()
    offsets = rng.random(count) * span + 3600
    channels = rng.choice(IMPRESSION_CHANNELS, count, p=[0.5, 0.3, 0.2])
    return [
        SimulatedRequest(str(c), snapshot - timedelta(seconds=float(s)), str(ch))
        for c, s, ch in zip(who, offsets, channels, strict=True)
    ]


class Simulator:
    def __init__(
        self, url: str, token: str, truth: HiddenUtility, k: int, seed: int, workers: int = 4
    ) -> None:
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._truth = truth
        self._k = k
        self._rng = np.random.default_rng(seed)
        self._workers = workers

    def run(
        self, requests: list[SimulatedRequest], progress: Callable[[int], None] = lambda _: None
    ) -> Simulated:
        with httpx.Client(timeout=30.0, headers=self._headers) as client:
            ranked = self._rank_all(client, requests, progress)
            served = self._draw(ranked)
            refused = sum(r is None for r in ranked) + self._send(client, served)
        return Simulated(
            requests=len(requests),
            shown=len(served),
            clicks=int(served["clicked"].sum()),
            redemptions=int(served["redeemed"].sum()),
            refused=refused,
            served=served,
        )

    def _rank_all(
        self,
        client: httpx.Client,
        requests: list[SimulatedRequest],
        progress: Callable[[int], None],
    ) -> list[tuple[SimulatedRequest, dict] | None]:
        def one(request: SimulatedRequest) -> tuple[SimulatedRequest, dict] | None:
            body = {
                "customer_id": request.customer_id,
                "context": {"channel": request.channel, "timestamp": request.at.isoformat()},
                "k": self._k,
                "explain": False,
            }
            response = client.post(f"{self._url}/rank", json=body)
            progress(1)
            return (request, response.json()) if response.status_code == 200 else None

        with ThreadPoolExecutor(self._workers) as pool:
            return list(pool.map(one, requests))

    def _draw(self, ranked: list[tuple[SimulatedRequest, dict] | None]) -> pd.DataFrame:
        """One row per shown offer, with the click and redemption drawn from the truth."""
        rows = [
            (answer["request_id"], request.customer_id, request.at, request.channel, o["rank"],
             o["offer_id"])
            for request, answer in filter(None, ranked)
            for o in answer["offers"]
        ]  # fmt: skip
        served = pd.DataFrame(
            rows,
            columns=["request_id", "customer_id", "at", "channel", "position", "offer_id"],
        )
        args = (
            served["customer_id"].to_numpy(),
            served["offer_id"].to_numpy(),
            pd.to_datetime(served["at"], utc=True).to_numpy(dtype="datetime64[us]"),
            served["channel"].to_numpy(),
            served["position"].to_numpy(),
        )
        p_click = self._truth.p_click(*args)
        p_redeem = self._truth.p_redeem(*args)
        clicked = self._rng.random(len(served)) < p_click
        redeem_given_click = np.divide(
            p_redeem, p_click, out=np.zeros_like(p_redeem), where=p_click > 0
        )
        served["p_click"] = p_click
        served["clicked"] = clicked
        served["redeemed"] = clicked & (self._rng.random(len(served)) < redeem_given_click)
        return served

    def _send(self, client: httpx.Client, served: pd.DataFrame) -> int:
        """The clicks and redemptions as feedback events; returns how many were refused."""
        events = [
            {
                "event_id": uuid.uuid4().hex,
                "kind": kind,
                "customer_id": row.customer_id,
                "offer_id": row.offer_id,
                "occurred_at": (row.at + timedelta(minutes=minutes)).isoformat(),
                "request_id": row.request_id,
                "channel": row.channel,
                "position": int(row.position),
            }
            for row in served.itertuples()
            for kind, minutes, happened in (("click", 5, row.clicked), ("redeem", 60, row.redeemed))
            if happened
        ]

        @retry(
            retry=retry_if_result(lambda status: status == 503),
            stop=stop_after_attempt(4),
            wait=wait_exponential(multiplier=0.1, max=2),
            retry_error_callback=lambda state: state.outcome.result(),
        )
        def status(event: dict) -> int:
            """503: the service could not make it durable now; the same event_id again."""
            return client.post(f"{self._url}/feedback", json=event).status_code

        def one(event: dict) -> bool:
            return status(event) < 400

        with ThreadPoolExecutor(self._workers) as pool:
            return sum(not ok for ok in pool.map(one, events))
