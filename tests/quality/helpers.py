"""Helpers to corrupt generated data and to build small feature marts by hand."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from smartstack.data.schema import MERCHANT_CATEGORIES, RAW_SCHEMAS

EXPECTATIONS = Path(__file__).resolve().parents[2] / "expectations"
WINDOWS = (7, 30, 90)

Rewrite = Callable[[pd.DataFrame], pd.DataFrame]


def rewrite_raw(data_dir: Path, table: str, change: Rewrite) -> None:
    """Replace a raw table by ``change(table)``, keeping the contract's types where they fit."""
    folder = data_dir / "raw" / table
    frame = change(pq.read_table(folder).to_pandas())
    schema = pa.schema([f for f in RAW_SCHEMAS[table] if f.name in frame.columns])
    shutil.rmtree(folder)
    folder.mkdir()
    pq.write_table(
        pa.Table.from_pandas(frame, schema=schema, preserve_index=False),
        folder / "part-00000.parquet",
    )


def snapshot(data_dir: Path) -> datetime:
    return datetime.fromisoformat(json.loads((data_dir / "manifest.json").read_text())["snapshot"])


def spend_mart(data_dir: Path, customers: int = 40, seed: int = 0) -> pd.DataFrame:
    """A consistent ``customer_spend_features`` mart: two as-of dates, shares summing to one."""
    rng = np.random.default_rng(seed)
    as_of = snapshot(data_dir)
    rows = []
    for day in (as_of - timedelta(days=7), as_of):
        for index in range(customers):
            row: dict[str, object] = {"customer_id": f"CUST-{index:07d}", "event_timestamp": day}
            for window in WINDOWS:
                counts = rng.poisson(window / 10, len(MERCHANT_CATEGORIES)) + (
                    np.arange(len(MERCHANT_CATEGORIES)) == 0
                )
                spends = counts * rng.lognormal(3.5, 0.5, len(MERCHANT_CATEGORIES))
                for category, count, spend in zip(MERCHANT_CATEGORIES, counts, spends, strict=True):
                    row[f"spend_{category}_{window}d"] = float(spend)
                    row[f"txn_count_{category}_{window}d"] = int(count)
                    row[f"share_{category}_{window}d"] = float(spend / spends.sum())
                row[f"spend_{window}d"] = float(spends.sum())
                row[f"txn_count_{window}d"] = int(counts.sum())
            for category in MERCHANT_CATEGORIES:
                row[f"trend_{category}"] = float(rng.uniform(0, 3))
            row["days_since_last_txn"] = int(rng.integers(0, 20))
            row["avg_ticket_90d"] = row["spend_90d"] / row["txn_count_90d"]  # type: ignore[operator]
            rows.append(row)
    frame = pd.DataFrame(rows)
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    return frame


def affinity_mart(data_dir: Path, customers: int = 40) -> pd.DataFrame:
    """A consistent ``customer_category_affinity`` mart (one row per customer, category and
    as-of date) from :func:`spend_mart`'s wallets, rows shuffled as a warehouse may write them."""
    spend = spend_mart(data_dir, customers)
    rows = [
        {
            "customer_id": row.customer_id,
            "merchant_category": category,
            "event_timestamp": row.event_timestamp,
            "spend_30d": getattr(row, f"spend_{category}_30d"),
            "spend_90d": getattr(row, f"spend_{category}_90d"),
            "txn_count_90d": getattr(row, f"txn_count_{category}_90d"),
            "share_30d": getattr(row, f"share_{category}_30d"),
            "share_90d": getattr(row, f"share_{category}_90d"),
            "trend": getattr(row, f"trend_{category}"),
        }
        for row in spend.itertuples()
        for category in MERCHANT_CATEGORIES
    ]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0, ignore_index=True)


def write_mart(data_dir: Path, name: str, frame: pd.DataFrame) -> Path:
    path = data_dir / "features" / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path
