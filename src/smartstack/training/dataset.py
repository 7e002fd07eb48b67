"""The training set: Feast's point-in-time features on labelled impressions, split by time.

Rows come from :func:`smartstack.featurestore.store.training_set` (the active data set's
feature service, ``offer_ranking_v1`` for synthetic data) and the model's columns from
:func:`store.model_feature_names`: no feature name is written in this package. Two splits:

- by shares (synthetic): requests (one customer, six offers) are split by their timestamp into
  train, validation and test, oldest first, so the test period lies after everything the model
  or its early stopping saw, and a request never straddles two parts;
- by send time (Starbucks, ``split.train_before_hour``): rows sent before that hour of the data
  set are training rows, a fixed share of customers among them (by a hash of the id) is held
  out for early stopping and calibration, and every later send is the test period.

What a row is labelled with comes from the data set's :class:`~smartstack.datasets.adapter.Target`
(``redeemed`` for synthetic; A and B for Starbucks); :meth:`TrainingData.restricted` gives the
rows of another target of the same frame.

Columns that ride along and are *not* features: segments for per-segment metrics (card product,
new vs tenured, the generator's drifting customers; offer type and profile completeness for
Starbucks), the data set's evaluation columns (censoring, for instance) and, when the data set
is synthetic, the ground truth ``p_redeem`` for the oracle baseline. All are for evaluation only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from smartstack.data.manifest import Manifest
from smartstack.datasets import active
from smartstack.datasets.adapter import Target
from smartstack.featurestore.historical import own_duckdb
from smartstack.featurestore.store import LABEL_COLUMNS, labelled_path
from smartstack.memory import release_freed_memory
from smartstack.settings import Settings, SplitSettings, Warehouse, get_settings

PARTS = ("train", "validation", "test")


class TrainingSetMissing(RuntimeError):
    """The feature marts or the Feast registry are not there yet."""


@dataclass
class TrainingData:
    """The labelled frame (sorted by time), its feature columns, split and evaluation columns."""

    frame: pd.DataFrame
    features: list[str]
    part: pd.Categorical  # "train" | "validation" | "test" per row, a byte each
    boundaries: dict[str, str]
    fingerprint: str
    part_fingerprints: dict[str, str]
    target: Target
    group: str  # rows ranked together (NDCG, MAP)
    segment_columns: tuple[str, ...]
    # Named subsets of the rows reported beside "all": column -> required value.
    subsets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def rows(self, part: str) -> np.ndarray:
        return np.asarray(self.part == part)

    def labels(self, part: str) -> np.ndarray:
        """The target's 0/1 label of each row of ``part``."""
        return self.column(part, self.target.label).to_numpy(dtype=float)

    def grades(self, part: str) -> np.ndarray:
        """The NDCG gain of each row: the engagement grade of ``relevance`` or the label."""
        if self.target.grade == "engagement":
            relevance = self.column(part, "relevance").to_numpy(dtype=float)
            return np.maximum(relevance - 1.0, 0.0)
        return self.labels(part)

    def groups(self, part: str) -> np.ndarray:
        return self.column(part, self.group).to_numpy()

    def subset_masks(self, part: str) -> dict[str, np.ndarray]:
        """Each named subset of ``part`` that is neither empty, nor every row, nor the same
        rows as an earlier one."""
        needed = {column for conditions in self.subsets.values() for column in conditions}
        frame = self.subset(part, [c for c in self.frame.columns if c in needed])
        masks: dict[str, np.ndarray] = {}
        for name, conditions in self.subsets.items():
            if not all(column in frame for column in conditions):
                continue
            mask = np.ones(len(frame), dtype=bool)
            for column, value in conditions.items():
                mask &= (frame[column] == value).to_numpy()
            same = any(np.array_equal(mask, other) for other in masks.values())
            if 0 < mask.sum() < len(frame) and not same:
                masks[name] = mask
        return masks

    def restricted(self, target: Target) -> TrainingData:
        """The same split for another target: only the rows it is defined on."""
        if target.rows is None:
            frame, part = self.frame, self.part
        else:
            keep = (self.frame[target.rows] == 1).to_numpy()
            frame, part = self.frame.loc[keep].reset_index(drop=True), self.part[keep]
        hashes = row_hashes(frame, self.features, target.label)
        return replace(
            self,
            frame=frame,
            part=part,
            target=target,
            fingerprint=_digest(self.features, hashes),
            part_fingerprints={
                p: _digest(self.features, [h[part == p] for h in hashes]) for p in PARTS
            },
        )

    def subset(self, part: str, columns: list[str] | None = None) -> pd.DataFrame:
        """``part``'s rows of ``columns`` (default: all). The columns are taken before the
        rows, so a few columns of a part copy only those, not the ~150 of the frame."""
        frame = self.frame if columns is None else self.frame[columns]
        return frame.loc[self.rows(part)]

    def column(self, part: str, name: str) -> pd.Series:
        """One column of ``part``'s rows."""
        return self.frame[name][self.rows(part)]

    def matrix(self, part: str, features: list[str] | None = None) -> np.ndarray:
        """The feature matrix of one part (float32; NaN = missing), in ``features`` order.

        When the part's rows are contiguous and the frame's features are views of one matrix
        (:func:`load_frame`'s), this is a read-only slice of it: the training part of 100,000
        customers is 1 GiB, which XGBoost reads but never writes. Otherwise it is a copy, and a
        column the frame lacks (a champion trained on an older feature service) is all-NaN.
        """
        rows = self.rows(part)
        names = features or self.features
        span = contiguous(rows)
        if span is not None and names == self.features and self._feature_block is not None:
            view = self._feature_block[span]
            view.flags.writeable = False
            return view
        out = np.full((int(rows.sum()), len(names)), np.nan, dtype=np.float32)
        for i, name in enumerate(names):
            if name in self.frame:
                values = pd.to_numeric(self.frame[name], errors="coerce")
                out[:, i] = values.to_numpy(np.float32)[rows]
        return out

    @cached_property
    def _feature_block(self) -> np.ndarray | None:
        return shared_matrix(self.frame, self.features)

    def window(self, part: str) -> tuple[str, str]:
        """The first and last event time of ``part``'s rows (ISO), whatever split made it: the
        drift monitor's reference is the train part's window."""
        stamp = self.column(part, "event_timestamp")
        return stamp.min().isoformat(), stamp.max().isoformat()

    def segments(self, part: str) -> pd.DataFrame:
        return self.subset(part, [c for c in self.segment_columns if c in self.frame])

    def counts(self) -> dict[str, int]:
        frame = self.frame
        out: dict[str, int] = {}
        for p in PARTS:
            rows = self.rows(p)
            out[f"rows_{p}"] = int(rows.sum())
            out[f"requests_{p}"] = int(frame.loc[rows, "request_id"].nunique())
        return out


def contiguous(rows: np.ndarray) -> slice | None:
    """The slice of the True values of ``rows`` when they are one unbroken run, else None."""
    where = np.flatnonzero(rows)
    if where.size == 0 or where[-1] - where[0] + 1 != where.size:
        return None
    return slice(int(where[0]), int(where[-1]) + 1)


def shared_matrix(frame: pd.DataFrame, columns: list[str]) -> np.ndarray | None:
    """A (rows × ``columns``) float32 view of the memory ``frame``'s ``columns`` lie in, when
    they lie as the columns of one C-ordered matrix, in that order; None otherwise.

    pandas keeps a frame built on a 2-D array as views of it (:func:`load_frame`'s features),
    so a slice of rows of this view is a slice of the frame without a copy. Every column's
    address and stride are checked, so a frame assembled any other way gets None, never a
    wrong matrix.
    """
    if not columns or frame.empty:
        return None
    first = frame[columns[0]].to_numpy()
    owner = first
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    rows, width = len(frame), len(columns) * 4
    start = _address(first)
    for i, name in enumerate(columns):
        column = frame[name].to_numpy()
        if column.dtype != np.float32 or column.strides != (width,):
            return None
        if _address(column) != start + i * 4:
            return None
    offset = start - _address(owner)
    if not owner.flags.c_contiguous or offset < 0 or offset + rows * width > owner.nbytes:
        return None
    return np.ndarray(
        (rows, len(columns)), np.float32, buffer=owner, offset=offset, strides=(width, 4)
    )


def _address(array: np.ndarray) -> int:
    return int(array.__array_interface__["data"][0])


def check_inputs(settings: Settings) -> None:
    """Raise :class:`TrainingSetMissing` with the commands to run when inputs are absent."""
    marts = labelled_path(settings)
    if not marts.exists():
        raise TrainingSetMissing(
            f"no labelled impressions at {marts}: run `smartstack dbt build` and "
            "`smartstack feast apply` first"
        )
    if not settings.postgres_url and not (settings.home / "feast" / "registry.db").exists():
        raise TrainingSetMissing(
            "the Feast registry is empty: run `smartstack dbt build` and `smartstack feast apply` "
            "first"
        )


KEEP = [*LABEL_COLUMNS, "request_timestamp", "card_product"]
# Feast's Spark offline store collects a chunk's join in the driver's heap: 231,504 rows at
# once ran out of the default 4 GiB (10,000 customers), 50,000 did not.
SPARK_CHUNK_ROWS_PER_HEAP_GIB = 12_500


def chunk_rows(settings: Settings) -> int:
    """How many labelled rows one point-in-time join retrieves (``training.chunk_rows``; on the
    spark warehouse at most what the driver's heap holds, SPARK_CHUNK_ROWS_PER_HEAP_GIB)."""
    if settings.warehouse is Warehouse.spark:
        heap_rows = int(SPARK_CHUNK_ROWS_PER_HEAP_GIB * settings.spark_driver_memory_gib)
        return max(1, min(settings.training.chunk_rows, heap_rows))
    return settings.training.chunk_rows


# The training set's row order: by time, each request's rows together.
ORDER = ["event_timestamp", "request_id", "impression_id"]


def load_frame(settings: Settings) -> tuple[pd.DataFrame, list[str]]:
    """The Feast training set and the feature service's column names, rows in ``ORDER``.

    A point-in-time join holds several float64 copies of its result (DuckDB's, Arrow's and
    pandas'): at 100,000 customers one join of all 2.3 million rows peaked at 17.7 GiB where
    chunks of 250,000 rows peaked at 4.7 GiB in the same time (``docs/benchmarks.md``). So
    labelled rows are retrieved in chunks of whole customers (the ``training.chunk_rows``
    setting); each row's join depends only on that row, so the chunks add up to the same set.

    The frame is assembled without a second copy of itself: the features (float32, what
    XGBoost reads) are written into one preallocated matrix at each row's final position, and
    the labelled rows' own columns come from the labelled mart, sorted before retrieval, not
    from Feast's copy of them; Feast is sent only the columns it joins on. The frame's
    features stay views of that matrix, so a part of rows in a run is a slice of it
    (:meth:`TrainingData.matrix`). Beyond ``training.max_customers`` customers, a sample of
    them is retrieved (:func:`training_sample`).
    """
    from smartstack.featurestore import store

    check_inputs(settings)
    features = store.model_feature_names(settings)
    sample = training_sample(store.labelled_customers(settings), settings.training.max_customers)
    labelled = store.labelled_impressions(settings, sample).sort_values(
        ORDER, kind="stable", ignore_index=True
    )
    # The labels and the data set's evaluation-only columns (a feature may share a name)
    # are the mart's, not Feast's.
    entity = ["impression_id", *store.ENTITY_COLUMNS]
    position = pd.Index(labelled["impression_id"])
    values = np.empty((len(labelled), len(features)), dtype=np.float32)
    fetched: dict[str, list[pd.Series]] = {}  # kept columns only Feast has (card_product)
    customers = labelled["customer_id"].drop_duplicates().sort_values().to_numpy()
    n_chunks = max(1, -(-len(labelled) // chunk_rows(settings)))
    limit = settings.training.retrieval_memory_limit
    with own_duckdb(limit, settings.home / "tmp" / "duckdb"):
        for chunk in np.array_split(customers, n_chunks):
            rows = labelled.loc[labelled["customer_id"].isin(chunk), entity]
            joined = store.training_frame(rows, settings)
            del rows
            at = position.get_indexer(joined["impression_id"])
            values[at] = _float32_matrix(joined, features)
            for name in KEEP:
                if name in joined and name not in labelled:
                    fetched.setdefault(name, []).append(joined[name].set_axis(at))
            del joined
            release_freed_memory()
    kept = {
        name: labelled[name] if name in labelled else pd.concat(fetched[name]).sort_index()
        for name in KEEP
        if name in labelled or name in fetched
    }
    evaluation = list(active(settings).evaluation_columns)
    frame = pd.concat(
        [
            pd.DataFrame(kept),
            pd.DataFrame(values, columns=features, copy=False),
            labelled[evaluation],
        ],
        axis=1,
        copy=False,
    )
    return frame, features


def _float32_matrix(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """``frame[columns]`` as one float32 matrix, a column at a time: selecting the columns
    first would copy them as float64, then again as float32."""
    out = np.empty((len(frame), len(columns)), dtype=np.float32)
    for i, name in enumerate(columns):
        out[:, i] = frame[name].to_numpy()
    return out


def time_split(
    frame: pd.DataFrame, split: SplitSettings, start: datetime | None = None
) -> tuple[np.ndarray, dict[str, str]]:
    """Assign rows to train/validation/test: by send time when ``split.train_before_hour`` is
    set (hours after ``start``, the data set's start), else by quantiles of request time."""
    if split.train_before_hour is not None:
        if start is None:
            raise TrainingSetMissing(
                "the split by send time needs the data set's start: its manifest.json has none"
            )
        return send_time_split(frame, split, start)
    return share_split(frame, split)


HOLD_OUT_SALT = "smartstack.validation:"


SAMPLE_SALT = "smartstack.training-sample:"


def customer_share(customers: pd.Series, salt: str = HOLD_OUT_SALT) -> np.ndarray:
    """A stable number in [0, 1) per customer id (the SHA-256 of a salted id), for customer
    hold-outs and samples: the same customer falls on the same side in every run and on every
    machine, and each use's salt keeps it independent of the others."""
    unique = customers.drop_duplicates()
    value = {
        c: int(hashlib.sha256(f"{salt}{c}".encode()).hexdigest()[:12], 16) / 16**12 for c in unique
    }
    return customers.map(value).to_numpy(dtype=float)


def training_sample(customers: pd.Series, limit: int | None) -> list[str] | None:
    """The ``limit`` customers with the lowest salted hashes, or None (every customer) when
    there are no more than ``limit``: the same sample in every run and on every machine,
    whatever order the rows come in, and independent of the validation hold-out."""
    unique = customers.drop_duplicates()
    if limit is None or len(unique) <= limit:
        return None
    order = np.argsort(customer_share(unique, SAMPLE_SALT), kind="stable")
    return sorted(unique.to_numpy()[order[:limit]])


def send_time_split(
    frame: pd.DataFrame, split: SplitSettings, start: datetime
) -> tuple[np.ndarray, dict[str, str]]:
    """Rows sent before ``train_before_hour`` train (a ``validation_customers`` share of their
    customers validates); every row sent at or after it is the test period."""
    assert split.train_before_hour is not None
    cut = pd.Timestamp(start) + pd.Timedelta(hours=split.train_before_hour)
    stamp = frame["event_timestamp"]
    held = customer_share(frame["customer_id"]) < split.validation_customers
    part = np.where(stamp >= cut, "test", np.where(held, "validation", "train"))
    empty = [p for p in PARTS if not (part == p).any()]
    if empty:
        raise TrainingSetMissing(
            f"the split at hour {split.train_before_hour:g} leaves no {' and no '.join(empty)} "
            "rows: the data set has no sends on that side of it"
        )
    hours = ((stamp - pd.Timestamp(start)) / pd.Timedelta(hours=1)).round().astype(int)

    def sends(rows: np.ndarray) -> str:
        return ", ".join(str(h) for h in sorted(hours[rows].unique()))

    share = f"{split.validation_customers:.0%}"
    boundaries = {
        "train": f"sent at hours {sends(part == 'train')} (before {cut.isoformat()}), "
        f"customers outside the {share} hold-out",
        "validation": f"the {share} of customers held out of the same sends",
        "test": f"sent at hours {sends(part == 'test')} (from {cut.isoformat()})",
    }
    return part, boundaries


def share_split(frame: pd.DataFrame, split: SplitSettings) -> tuple[np.ndarray, dict[str, str]]:
    """Assign requests to train/validation/test by quantiles of the request timestamp."""
    requests = frame.groupby("request_id", sort=False)["event_timestamp"].min().sort_values()
    n = len(requests)
    cut_train = requests.iloc[min(int(n * split.train), n - 1)]
    cut_val = requests.iloc[min(int(n * (split.train + split.validation)), n - 1)]
    stamp = frame["request_id"].map(requests)
    part = np.where(stamp < cut_train, "train", np.where(stamp < cut_val, "validation", "test"))
    first, last = frame["event_timestamp"].min(), frame["event_timestamp"].max()
    boundaries = {
        "train": f"{first.isoformat()} .. {cut_train.isoformat()}",
        "validation": f"{cut_train.isoformat()} .. {cut_val.isoformat()}",
        "test": f"{cut_val.isoformat()} .. {last.isoformat()}",
    }
    return part, boundaries


def fingerprint(frame: pd.DataFrame, features: list[str], label: str = "redeemed") -> str:
    """SHA-256 of the feature names and every row's ids, labels and feature values."""
    return _digest(features, row_hashes(frame, features, label))


def row_hashes(frame: pd.DataFrame, features: list[str], label: str) -> list[np.ndarray]:
    """Each row's hash of its ids and labels, and of its feature values. A row's hash depends
    on that row alone, so a part's fingerprint is its rows' hashes, without copying the part."""
    keys = list(
        dict.fromkeys(
            ["impression_id", "request_id", "event_timestamp", "relevance", "redeemed", label]
        )
    )
    return [_hash_rows(frame, [c for c in block if c in frame]) for block in (keys, features)]


def _hash_rows(frame: pd.DataFrame, columns: list[str], rows: int = 250_000) -> np.ndarray:
    """``hash_pandas_object`` of ``frame[columns]``, a slice of rows at a time: the selection
    copies its columns, and a row's hash does not depend on the other rows."""
    return np.concatenate(
        [
            pd.util.hash_pandas_object(
                frame.iloc[start : start + rows][columns], index=False
            ).to_numpy()
            for start in range(0, max(len(frame), 1), rows)
        ]
    )


def _digest(features: list[str], hashes: list[np.ndarray]) -> str:
    digest = hashlib.sha256("\x1f".join(features).encode())
    for hashed in hashes:
        digest.update(hashed.tobytes())
    return digest.hexdigest()


def in_order(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` sorted by ``ORDER`` (stable) with a fresh index; a frame already in that
    order (:func:`load_frame`'s) is not copied."""
    keys = frame[ORDER].reset_index(drop=True)
    order = keys.sort_values(ORDER, kind="stable").index.to_numpy()
    out = frame.copy(deep=False) if (order == np.arange(len(order))).all() else frame.take(order)
    out.index = pd.RangeIndex(len(out))
    return out


def data_start(settings: Settings) -> datetime | None:
    """The data set's start (its manifest's ``start``), which send-time splits count from."""
    manifest = Manifest.read(settings.data_dir)
    return manifest.start if manifest else None


def build(
    settings: Settings | None = None,
    split: SplitSettings | None = None,
    frame: pd.DataFrame | None = None,
    features: list[str] | None = None,
) -> TrainingData:
    """The training data of the active settings (or of a given frame, for tests), labelled
    with the data set's primary target."""
    settings = settings or get_settings()
    dataset = active(settings)
    if frame is None or features is None:
        frame, features = load_frame(settings)
    frame = dataset.evaluation_frame(frame, settings)
    frame = in_order(frame)
    part, boundaries = time_split(frame, split or settings.training.split, data_start(settings))
    data = TrainingData(
        frame=frame,
        features=list(features),
        part=pd.Categorical(part, categories=PARTS),
        boundaries=boundaries,
        fingerprint="",
        part_fingerprints={},
        target=dataset.primary,
        group=dataset.ranking_group,
        segment_columns=dataset.segments,
        subsets=dataset.subsets,
    )
    return data.restricted(dataset.primary)
