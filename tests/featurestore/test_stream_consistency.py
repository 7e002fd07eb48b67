"""Online/offline consistency of recent spend: the stream processor's window and the dbt mart
`customer_recent_spend` give the same value for every customer at the snapshot."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

from smartstack.data.schema import MERCHANT_CATEGORIES
from smartstack.events.contracts import TransactionEvent
from smartstack.events.recent_spend import BatchChanges, RecentSpendState, to_us
from smartstack.featurestore.store import snapshot_time
from smartstack.settings import Settings


def mart_at_snapshot(data: Path) -> tuple[pd.Timestamp, pd.DataFrame]:
    mart = pd.read_parquet(data / "features" / "customer_recent_spend.parquet")
    snapshot = pd.Timestamp(snapshot_time(Settings(data_dir=data)))
    rows = mart[pd.to_datetime(mart.event_timestamp, utc=True) == snapshot]
    assert len(rows) > 100, "the mart has no rows at the snapshot"
    return snapshot, rows.set_index("customer_id")


def assert_same(state: RecentSpendState, snapshot: pd.Timestamp, mart: pd.DataFrame) -> None:
    as_of = to_us(snapshot.to_pydatetime())
    compared = 0
    for customer, expected in mart.iterrows():
        window = state.customers.get(customer)
        streamed = window.spend(as_of) if window else [0.0] * len(MERCHANT_CATEGORIES)
        for index, category in enumerate(MERCHANT_CATEGORIES):
            assert streamed[index] == pytest.approx(
                expected[f"recent_spend_{category}"], rel=1e-9, abs=1e-9
            ), (customer, category)
        compared += any(streamed)
    assert compared > 100, "too few customers with recent spend to compare"


def test_streaming_every_transaction_gives_the_marts_recent_spend(
    feature_data: Path, tmp_path: Path
) -> None:
    snapshot, mart = mart_at_snapshot(feature_data)
    table = ds.dataset(feature_data / "raw" / "transactions").to_table().sort_by("event_timestamp")
    state = RecentSpendState(tmp_path / "state.sqlite")
    for batch in table.to_batches(max_chunksize=10_000):
        events = [TransactionEvent.model_validate(row) for row in batch.to_pylist()]
        state.apply(events, BatchChanges())
    assert_same(state, snapshot, mart)


def test_the_seed_is_the_history_the_batch_load_wrote(feature_data: Path, tmp_path: Path) -> None:
    snapshot, mart = mart_at_snapshot(feature_data)
    state = RecentSpendState(tmp_path / "state.sqlite")
    assert state.seed(feature_data / "raw" / "transactions", snapshot.to_pydatetime()) > 0
    assert_same(state, snapshot, mart)
