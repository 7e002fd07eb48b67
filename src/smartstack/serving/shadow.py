"""Shadow mode: a second ranker scores a share of the served rankings' feature rows, off the
request path, and its ranking is logged beside the served one; it is never served.

The request thread only appends a job (the feature rows it already read, the served order) to
a bounded deque; a background thread scores the jobs every ``flush_seconds``, all of a batch's
rows in one call of the shadow model (fewer calls: less time holding the interpreter the
requests share), and writes one Parquet part per batch under
``<dir>/date=YYYY-MM-DD/``, one row per ranking; ``shadow_ms`` is the batch's time per
ranking. The served answer
never waits for the shadow model; a full buffer drops the job and counts it.
``smartstack experiments shadow`` reads the log back (agreement, scores, latency).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
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
        ("served_ranker_offer_ids", pa.list_(pa.string())),
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
    scores: list[float]  # their scores by the served ranker, same order
    served_ms: float  # the served ranking's time in the service so far
    matrix: np.ndarray  # their feature rows, same order
    feature_names: Sequence[str]
    k: int  # how many were shown
    ranker: str  # the shadow ranker's alias, or 'smartscore'
    model: LoadedModel | None  # None: the rules


class ShadowScorer:
    """Scores shadow jobs on its own thread and writes them to the shadow log."""

    def __init__(
        self,
        directory: Path,
        rules: Rules,
        flush_seconds: float,
        buffer_size: int,
        erased: Callable[[Iterable[str]], set[str]] = lambda _customers: set(),
    ) -> None:
        self._dir = directory
        self._erased = erased  # asked before each write, as the ranking log's writer does
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
            jobs = self._not_erased(jobs)
            rows = [row for batch in _by_scorer(jobs) for row in self._scored(batch)]
            if rows:
                try:
                    self._write(rows)
                except Exception:
                    log.exception("could not write %d shadow rankings", len(rows))
                    ERRORS.labels(kind="shadow_error").inc()
            if stopping:
                return

    def _not_erased(self, jobs: list[ShadowJob]) -> list[ShadowJob]:
        """The jobs of customers not erased; none if the list cannot be asked (fails closed)."""
        if not jobs:
            return jobs
        try:
            gone = self._erased({job.customer_id for job in jobs})
        except Exception:
            log.exception("could not check %d shadow rankings against erasures", len(jobs))
            ERRORS.labels(kind="shadow_error").inc()
            return []
        return [job for job in jobs if job.customer_id not in gone]

    def _scored(self, jobs: list[ShadowJob]) -> list[dict[str, object]]:
        """One call of the shadow ranker for a batch of rankings (its time shared among them);
        if the batch fails, each ranking alone, so one bad ranking costs only itself."""
        try:
            return self._score(jobs)
        except Exception:
            if len(jobs) > 1:
                return [row for job in jobs for row in self._scored([job])]
            log.exception("could not score shadow ranking %s", jobs[0].request_id)
            ERRORS.labels(kind="shadow_error").inc()
            return []

    def _score(self, jobs: list[ShadowJob]) -> list[dict[str, object]]:
        started = time.perf_counter()
        matrix = np.vstack([job.matrix for job in jobs])
        model = jobs[0].model
        scores = model.score(matrix)[0] if model else self._rules(matrix, jobs[0].feature_names)
        each_ms = (time.perf_counter() - started) * 1000 / len(jobs)
        ends = np.cumsum([len(job.offer_ids) for job in jobs])
        return [
            _row(job, part, each_ms)
            for job, part in zip(jobs, np.split(scores, ends[:-1]), strict=True)
        ]

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


def _by_scorer(jobs: list[ShadowJob]) -> list[list[ShadowJob]]:
    """The jobs grouped by the model that scores them (one group per model in practice)."""
    groups: dict[int, list[ShadowJob]] = {}
    for job in jobs:
        groups.setdefault(id(job.model), []).append(job)
    return list(groups.values())


def _row(job: ShadowJob, scores: np.ndarray, shadow_ms: float) -> dict[str, object]:
    order = np.argsort(-scores, kind="stable")[: job.k]
    served_order = np.argsort(-np.asarray(job.scores), kind="stable")[: job.k]
    return {
        "request_id": job.request_id,
        "customer_id": job.customer_id,
        "served_at": job.served_at,
        "served_tier": job.tier,
        "served_model": job.model_name,
        "served_version": job.model_version,
        "served_offer_ids": job.offer_ids[: job.k],
        "served_scores": job.scores[: job.k],
        "served_ranker_offer_ids": [job.offer_ids[i] for i in served_order],
        "served_ms": job.served_ms,
        "shadow_ranker": job.ranker,
        "shadow_model": job.model.name if job.model else "smartscore",
        "shadow_version": job.model.version if job.model else None,
        "shadow_offer_ids": [job.offer_ids[i] for i in order],
        "shadow_scores": scores[order].astype(float).tolist(),
        "shadow_ms": shadow_ms,
    }
