"""Shadow mode: a second ranker scores a share of the served rankings' feature rows, off the
request path, and its ranking is logged beside the served one; it is never served.

The request thread only appends a job (the feature rows it already read, the served order) to
a bounded deque; a background thread scores the jobs every ``flush_seconds`` and writes one
Parquet part per batch under ``<dir>/date=YYYY-MM-DD/``, one row per ranking. The served answer
never waits for the shadow model; a full buffer drops the job and counts it.
``smartstack experiments shadow`` reads the log back (agreement, scores, latency).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from smartstack.serving.metrics import ERRORS
from smartstack.serving.model import LoadedModel

log = logging.getLogger(__name__)

Rules = Callable[[np.ndarray, Sequence[str]], np.ndarray]

SHADOW_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("customer_id", pa.string()),
        ("served_at", pa.timestamp("us", tz="UTC")),
        ("served_tier", pa.string()),
        ("served_model", pa.string()),
        ("served_version", pa.string()),
        ("served_offer_ids", pa.list_(pa.string())),
        ("served_scores", pa.list_(pa.float64())),
        ("served_ms", pa.float64()),
        ("shadow_ranker", pa.string()),
        ("shadow_model", pa.string()),
        ("shadow_version", pa.string()),
        ("shadow_offer_ids", pa.list_(pa.string())),
        ("shadow_scores", pa.list_(pa.float64())),
        ("shadow_ms", pa.float64()),
    ]
)


@dataclass(frozen=True)
class ShadowJob:
    """A served ranking to score again with the shadow ranker."""

    request_id: str
    customer_id: str
    served_at: datetime
    tier: str
    model_name: str
    model_version: str | None
    offer_ids: list[str]  # every candidate, in the served order
    scores: list[float]  # the served offers' scores
    served_ms: float  # the served ranking's time in the service so far
    matrix: np.ndarray  # their feature rows, same order
    feature_names: Sequence[str]
    k: int  # how many were shown
    ranker: str  # the shadow ranker's alias, or 'smartscore'
    model: LoadedModel | None  # None: the rules


class ShadowScorer:
    def __init__(
        self, directory: Path, rules: Rules, flush_seconds: float, buffer_size: int
    ) -> None:
        self._dir = directory
        self._rules = rules
        self._flush_seconds = flush_seconds
        self._capacity = buffer_size
        self._jobs: deque[ShadowJob] = deque()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
        self._parts = 0

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def submit(self, job: ShadowJob) -> None:
        if len(self._jobs) >= self._capacity:
            ERRORS.labels(kind="shadow_dropped").inc()
            return
        self._jobs.append(job)

    def close(self, timeout: float = 10.0) -> None:
        """Score and write what is queued, then stop."""
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            stopping = self._stopping.wait(self._flush_seconds)
            jobs = [self._jobs.popleft() for _ in range(len(self._jobs))]
            if jobs:
                try:
                    self._write([self._score(job) for job in jobs])
                except Exception:
                    log.exception("could not score or write %d shadow rankings", len(jobs))
                    ERRORS.labels(kind="shadow_error").inc()
            if stopping:
                return

    def _score(self, job: ShadowJob) -> dict[str, object]:
        started = time.perf_counter()
        if job.model is not None:
            scores, _ = job.model.score(job.matrix)
        else:
            scores = self._rules(job.matrix, job.feature_names)
        order = np.argsort(-scores, kind="stable")[: job.k]
        elapsed_ms = (time.perf_counter() - started) * 1000
        return {
            "request_id": job.request_id,
            "customer_id": job.customer_id,
            "served_at": job.served_at,
            "served_tier": job.tier,
            "served_model": job.model_name,
            "served_version": job.model_version,
            "served_offer_ids": job.offer_ids[: job.k],
            "served_scores": job.scores,
            "served_ms": job.served_ms,
            "shadow_ranker": job.ranker,
            "shadow_model": job.model.name if job.model else "smartscore",
            "shadow_version": job.model.version if job.model else None,
            "shadow_offer_ids": [job.offer_ids[i] for i in order],
            "shadow_scores": scores[order].astype(float).tolist(),
            "shadow_ms": elapsed_ms,
        }

    def _write(self, rows: list[dict[str, object]]) -> None:
        table = pa.Table.from_pylist(rows, schema=SHADOW_SCHEMA)
        day = rows[0]["served_at"].strftime("%Y-%m-%d")  # type: ignore[attr-defined]
        folder = self._dir / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        self._parts += 1
        name = f"part-{os.getpid()}-{int(time.time())}-{self._parts}.parquet"
        partial = folder / f".{name}.partial"  # readers never see a half-written file
        pq.write_table(table, partial)
        partial.rename(folder / name)
