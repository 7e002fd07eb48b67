"""The ranking log: every served ranking with the exact feature values behind it.

Training on what was served and auditing a decision both need the features *as the model saw
them*, which the online store overwrites. The request thread only appends a record to a
bounded buffer (never blocking: a full buffer drops and counts); a background thread drains it
every ``flush_seconds``, or as soon as ``flush_rankings`` are waiting, and writes Parquet parts
under ``<dir>/date=YYYY-MM-DD/``, one row per served offer, with the feature vector as a list
whose names are in the file's metadata.

The buffer is a ``collections.deque`` (appends are atomic) rather than a ``queue.Queue``: a
queue wakes the writer thread on every put, and that wake-up, a GIL hand-off per request, cost
the request more than everything else the log does.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from smartstack.serving.metrics import ERRORS

log = logging.getLogger(__name__)


# One row per served offer; the feature names are in each file's metadata.
RANKING_LOG_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("customer_id", pa.string()),
        ("served_at", pa.timestamp("us", tz="UTC")),
        ("request_time", pa.timestamp("us", tz="UTC")),
        ("channel", pa.string()),
        ("tier", pa.string()),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("offer_id", pa.string()),
        ("rank", pa.int16()),
        ("score", pa.float64()),
        ("features", pa.list_(pa.float64())),
        ("experiment", pa.string()),
        ("arm", pa.string()),
        ("ranker", pa.string()),
        ("propensity", pa.float64()),
        ("list_propensity", pa.float64()),
        ("team", pa.string()),
    ]
)


@dataclass(frozen=True)
class ServedRecord:
    request_id: str
    customer_id: str
    served_at: datetime  # server clock (UTC)
    request_time: datetime  # the time the request asked for (validity, time features)
    channel: str
    tier: str
    model_name: str
    model_version: str | None
    offer_ids: list[str]  # in rank order
    scores: list[float]
    features: np.ndarray | None  # one row per served offer, in the feature service's order
    experiment: str | None = None
    arm: str | None = None
    ranker: str | None = None  # the arm's ranker: a registry alias or 'smartscore'
    # Per served offer, the probability of its position under the serving policy (1: sorted;
    # None: past the slots exploration samples).
    propensities: list[float | None] | None = None
    list_propensity: float | None = None  # of the whole shown list
    teams: list[str] | None = None  # interleaving: the ranker whose pick each offer is


class SnapshotWriter:
    def __init__(
        self,
        directory: Path,
        feature_names: list[str],
        flush_rankings: int,
        flush_seconds: float,
        buffer_size: int,
        erased: Callable[[Iterable[str]], set[str]] = lambda _customers: set(),
    ) -> None:
        self._dir = directory
        # Asked at each flush, of the list as it is then: a customer erased while their ranking
        # waited in the buffer must not be written after the erasure rewrote the log.
        self._erased = erased
        self._names = feature_names
        self._flush_rankings = flush_rankings
        self._flush_seconds = flush_seconds
        self._capacity = buffer_size
        self._buffer: deque[ServedRecord] = deque()
        self._due = threading.Event()  # set when a flush should not wait for the timer
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="snapshot-writer", daemon=True)
        self._parts = 0
        self._schema = RANKING_LOG_SCHEMA.with_metadata(
            {"feature_names": json.dumps(feature_names)}
        )

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def log(self, record: ServedRecord) -> None:
        if len(self._buffer) >= self._capacity:
            ERRORS.labels(kind="snapshot_dropped").inc()
            return
        self._buffer.append(record)
        if len(self._buffer) == self._flush_rankings:
            self._due.set()

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is buffered and stop the writer."""
        self._stopping = True
        self._due.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._due.wait(self._flush_seconds)
            self._due.clear()
            stopping = self._stopping  # read before draining: nothing logged before close is lost
            pending = [self._buffer.popleft() for _ in range(len(self._buffer))]
            if pending:
                try:  # the suppression check fails closed: nothing is written without it
                    gone = self._erased({r.customer_id for r in pending})
                    kept = [r for r in pending if r.customer_id not in gone]
                    if kept:
                        self._write(kept)
                except Exception:
                    log.exception("could not write %d ranking snapshots", len(pending))
                    ERRORS.labels(kind="snapshot_write").inc()
            if stopping:
                return

    def _write(self, records: list[ServedRecord]) -> None:
        """One Parquet part, one row per served offer.

        Per-ranking values are converted once per ranking and repeated per offer by Arrow
        (``take``), and the per-offer lists are flattened by Arrow: this thread holds the GIL
        for as little Python work as possible, since every millisecond it holds it is a
        millisecond a request may wait.
        """
        repeat = np.array([len(r.offer_ids) for r in records])
        ranking_of_row = np.repeat(np.arange(len(records)), repeat)
        per_offer = pa.array(ranking_of_row)
        # Rank within its ranking: row number less the row where its ranking starts, plus one.
        first_row = np.cumsum(repeat) - repeat
        ranks = np.arange(len(ranking_of_row)) - first_row[ranking_of_row] + 1
        # One feature list per served offer; null where the tier had no features (a null
        # fixed-size list does not survive a Parquet round trip, hence a plain list).
        has = np.repeat([r.features is not None for r in records], repeat)
        width = len(self._names)
        offsets = np.concatenate([[0], np.cumsum(np.where(has, width, 0))]).astype(np.int32)
        values = [r.features.ravel() for r in records if r.features is not None]
        features = pa.ListArray.from_arrays(
            pa.array(offsets),
            pa.array(np.concatenate(values) if values else np.empty(0), pa.float64()),
            mask=pa.array(~has),
        )

        def per_ranking(values: list[object], kind: pa.DataType | None = None) -> pa.Array:
            return pa.array(values, kind).take(per_offer)

        def per_offer_values(values: list[list | None], kind: pa.DataType) -> pa.Array:
            """One value per served offer; nulls for a ranking without them."""
            filled = [
                v if v is not None else [None] * n for v, n in zip(values, repeat, strict=True)
            ]
            return pa.array(filled, pa.list_(kind)).flatten()

        stamp = pa.timestamp("us", tz="UTC")
        table = pa.Table.from_arrays(
            [
                per_ranking([r.request_id for r in records]),
                per_ranking([r.customer_id for r in records]),
                per_ranking([r.served_at for r in records], stamp),
                per_ranking([r.request_time for r in records], stamp),
                per_ranking([r.channel for r in records]),
                per_ranking([r.tier for r in records]),
                per_ranking([r.model_name for r in records]),
                per_ranking([r.model_version for r in records], pa.string()),
                pa.array([r.offer_ids for r in records], pa.list_(pa.string())).flatten(),
                pa.array(ranks, pa.int16()),
                pa.array([r.scores for r in records], pa.list_(pa.float64())).flatten(),
                features,
                per_ranking([r.experiment for r in records], pa.string()),
                per_ranking([r.arm for r in records], pa.string()),
                per_ranking([r.ranker for r in records], pa.string()),
                per_offer_values([r.propensities for r in records], pa.float64()),
                per_ranking([r.list_propensity for r in records], pa.float64()),
                per_offer_values([r.teams for r in records], pa.string()),
            ],
            schema=self._schema,
        )
        day = records[0].served_at.strftime("%Y-%m-%d")
        folder = self._dir / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        self._parts += 1
        name = f"part-{os.getpid()}-{int(time.time())}-{self._parts}.parquet"
        # Written under a hidden name, then renamed: readers never see a half-written file.
        partial = folder / f".{name}.partial"
        pq.write_table(table, partial)
        partial.rename(folder / name)
