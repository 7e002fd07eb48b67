"""The training set: Feast's point-in-time features on labelled impressions, split by time.

Rows come from :func:`smartstack.featurestore.store.training_set` (the ``offer_ranking_v1``
feature service) and the model's columns from :func:`store.model_feature_names`: no feature
name is written in this package. Requests (one customer, six offers) are split by their
timestamp into train, validation and test, oldest first, so the test period lies after
everything the model or its early stopping saw, and a request never straddles two parts.

Two kinds of columns ride along that are *not* features: segments for per-segment metrics
(card product, new vs tenured, the generator's drifting customers) and, when the data set is
synthetic, the ground truth ``p_redeem`` for the oracle baseline. Both are for evaluation only.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from smartstack.featurestore.store import LABEL_COLUMNS
from smartstack.settings import Settings, get_settings
from smartstack.training.config import SplitConfig

PARTS = ("train", "validation", "test")
SEGMENT_COLUMNS = ("card_product", "tenure", "drift")


class TrainingSetMissing(RuntimeError):
    """The feature marts or the Feast registry are not there yet."""


@dataclass
class TrainingData:
    """The labelled frame (sorted by time), its feature columns, split and evaluation columns."""

    frame: pd.DataFrame
    features: list[str]
    part: np.ndarray  # "train" | "validation" | "test" per row
    boundaries: dict[str, str]
    fingerprint: str
    part_fingerprints: dict[str, str]

    def rows(self, part: str) -> np.ndarray:
        return self.part == part

    def subset(self, part: str) -> pd.DataFrame:
        return self.frame.loc[self.rows(part)]

    def matrix(self, part: str, features: list[str] | None = None) -> np.ndarray:
        """The feature matrix of one part (float32; NaN = missing), in ``features`` order.

        A column the frame lacks (a champion trained on an older feature service) is all-NaN.
        """
        frame = self.subset(part)
        names = features or self.features
        out = np.full((len(frame), len(names)), np.nan, dtype=np.float32)
        for i, name in enumerate(names):
            if name in frame:
                out[:, i] = pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float32)
        return out

    def segments(self, part: str) -> pd.DataFrame:
        return self.subset(part)[[c for c in SEGMENT_COLUMNS if c in self.frame]]

    def counts(self) -> dict[str, int]:
        frame = self.frame
        out: dict[str, int] = {}
        for p in PARTS:
            rows = self.rows(p)
            out[f"rows_{p}"] = int(rows.sum())
            out[f"requests_{p}"] = int(frame.loc[rows, "request_id"].nunique())
        return out


def check_inputs(settings: Settings) -> None:
    """Raise :class:`TrainingSetMissing` with the commands to run when inputs are absent."""
    assert settings.data_dir is not None
    marts = settings.data_dir / "features" / "training_impressions.parquet"
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


CHUNK_ROWS = int(os.environ.get("SMARTSTACK_TRAINING_CHUNK_ROWS", "250000"))
KEEP = [*LABEL_COLUMNS, "request_timestamp", "card_product"]


def load_frame(settings: Settings, chunk_rows: int = CHUNK_ROWS) -> tuple[pd.DataFrame, list[str]]:
    """The Feast training set and the feature service's column names.

    Feast's point-in-time retrieval with the Python on-demand view holds several copies of its
    whole result in memory (at 2.3 million rows it passed 22 GiB and was killed, see
    ``docs/benchmarks.md``), so labelled rows are retrieved in chunks of whole customers
    (``chunk_rows``, env ``SMARTSTACK_TRAINING_CHUNK_ROWS``). Each row's join depends only on
    that row, so the chunks add up to the same set. Features are kept as float32 (what XGBoost
    reads) and unused columns are dropped as each chunk arrives.
    """
    from smartstack.featurestore import store

    check_inputs(settings)
    features = store.model_feature_names(settings)
    labelled = store.labelled_impressions(settings)
    customers = labelled["customer_id"].drop_duplicates().sort_values().to_numpy()
    n_chunks = max(1, -(-len(labelled) // chunk_rows))
    parts = []
    for chunk in np.array_split(customers, n_chunks):
        rows = labelled[labelled["customer_id"].isin(chunk)]
        frame = store.training_frame(rows, settings)
        frame = frame[[c for c in KEEP if c in frame] + features]
        parts.append(frame.astype({name: np.float32 for name in features}))
        del frame
    return pd.concat(parts, ignore_index=True), features


def _read_table(path: Path, columns: list[str]) -> pd.DataFrame | None:
    if not path.exists():
        return None
    return pd.read_parquet(path, columns=columns)


def attach_evaluation_columns(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Add segment columns and, for synthetic data, the oracle's ``p_redeem``."""
    assert settings.data_dir is not None
    out = frame
    customers = _read_table(settings.raw_dir / "customers", ["customer_id", "card_product"])
    if customers is not None:
        out = out.merge(customers, on="customer_id", how="left", suffixes=("", "_raw"))
        if "card_product_raw" in out:
            out["card_product"] = out.pop("card_product_raw")
    if "is_new_customer" in out:
        new = pd.to_numeric(out["is_new_customer"], errors="coerce")
        out["tenure"] = np.where(new.isna(), None, np.where(new == 1, "new", "tenured"))
    truth = settings.data_dir / "ground_truth"
    drifting = _read_table(truth / "customer_truth", ["customer_id", "is_drifting"])
    if drifting is not None:
        out = out.merge(drifting, on="customer_id", how="left")
        out["drift"] = np.where(out.pop("is_drifting").fillna(False), "drifting", "stable")
    oracle = _read_table(truth / "impression_truth", ["impression_id", "p_redeem"])
    if oracle is not None:
        out = out.merge(oracle, on="impression_id", how="left")
    return out


def time_split(frame: pd.DataFrame, split: SplitConfig) -> tuple[np.ndarray, dict[str, str]]:
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


def fingerprint(frame: pd.DataFrame, features: list[str]) -> str:
    """SHA-256 of the feature names and every row's ids, labels and feature values."""
    digest = hashlib.sha256("\x1f".join(features).encode())
    keys = ["impression_id", "request_id", "event_timestamp", "relevance", "redeemed"]
    for block in (keys, features):
        present = [c for c in block if c in frame]
        hashed = pd.util.hash_pandas_object(frame[present], index=False).to_numpy()
        digest.update(hashed.tobytes())
    return digest.hexdigest()


def build(
    settings: Settings | None = None,
    split: SplitConfig | None = None,
    frame: pd.DataFrame | None = None,
    features: list[str] | None = None,
) -> TrainingData:
    """The training data of the active settings (or of a given frame, for tests)."""
    settings = settings or get_settings()
    if frame is None or features is None:
        frame, features = load_frame(settings)
    frame = attach_evaluation_columns(frame, settings)
    frame = frame.sort_values(["event_timestamp", "request_id", "impression_id"], kind="stable")
    frame = frame.reset_index(drop=True)
    part, boundaries = time_split(frame, split or SplitConfig())
    parts = {p: fingerprint(frame.loc[part == p], features) for p in PARTS}
    return TrainingData(
        frame=frame,
        features=list(features),
        part=part,
        boundaries=boundaries,
        fingerprint=fingerprint(frame, features),
        part_fingerprints=parts,
    )
