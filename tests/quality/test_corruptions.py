"""Each kind of bad data is caught by the expectation written for it; clean data passes.

Every test corrupts a private copy of generated data (1,500 customers) and runs the real gate
with the suites of ``expectations/``. Corruption tests validate only the corrupted table to keep
the suite fast; ``test_clean_data_passes`` runs every raw table.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from smartstack.quality.gate import Failure, GateResult, QualityGateFailed, run_gate
from smartstack.settings import Settings

from .helpers import EXPECTATIONS, rewrite_raw, spend_mart, write_mart


def gate(settings: Settings, stage: str = "raw", **kwargs: object) -> GateResult:
    return run_gate(stage, settings, expectations_dir=EXPECTATIONS, **kwargs)  # type: ignore[arg-type]


def blocked(settings: Settings, table: str, stage: str = "raw") -> QualityGateFailed:
    with pytest.raises(QualityGateFailed) as caught:
        gate(settings, stage, tables=[table])
    return caught.value


def find(failures: tuple[Failure, ...], expectation: str, column: str | None) -> Failure:
    matches = [f for f in failures if f.expectation == expectation and f.column == column]
    assert matches, f"{expectation} on {column} not among {[f.describe() for f in failures]}"
    return matches[0]


def test_clean_data_passes(settings: Settings) -> None:
    result = gate(settings)
    assert result.passed and result.failures == ()
    assert {r.table for r in result.tables} >= {"customers", "transactions", "impressions"}
    assert result.docs_path is not None and result.docs_path.is_file()
    # Data Docs hold a validation page and a suite page for every table the gate validated.
    docs = result.docs_path.parent
    for report in result.tables:
        assert list((docs / "validations" / "raw" / report.table).rglob("*.html")), report.table
        assert (docs / "expectations" / "raw" / f"{report.table}.html").is_file(), report.table
    quality = settings.home / "quality"
    counts = json.loads((quality / "row_counts" / "raw.json").read_text())
    assert counts["transactions"] > 0
    reference = json.loads((quality / "reference" / "raw.json").read_text())
    assert reference["transactions"]["amount"]["mean"] > 0
    # The second run also compares with the first run's counts and profile, and still passes.
    assert gate(settings).failures == ()


def test_null_keys(settings: Settings, data_dir: Path) -> None:
    def nulls(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[[3, 17, 40], "customer_id"] = None
        return frame

    rewrite_raw(data_dir, "customers", nulls)
    error = blocked(settings, "customers")
    failure = find(error.result.blocking, "expect_column_values_to_not_be_null", "customer_id")
    assert failure.unexpected_count == 3
    assert "customers" in str(error) and "expect_column_values_to_not_be_null" in str(error)


def test_negative_amounts(settings: Settings, data_dir: Path) -> None:
    def negate(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame.index[:5], "amount"] = -frame["amount"].iloc[:5]
        return frame

    rewrite_raw(data_dir, "transactions", negate)
    error = blocked(settings, "transactions")
    failure = find(error.result.blocking, "expect_column_values_to_be_between", "amount")
    assert failure.unexpected_count == 5 and all(v < 0 for v in failure.samples)
    assert f"{failure.samples[0]:.6g}" in str(error)


def test_duplicated_rows(settings: Settings, data_dir: Path) -> None:
    rewrite_raw(data_dir, "transactions", lambda frame: pd.concat([frame, frame.iloc[:10]]))
    error = blocked(settings, "transactions")
    failure = find(error.result.blocking, "expect_column_values_to_be_unique", "transaction_id")
    assert failure.unexpected_count == 20  # both copies of each duplicated row


def test_unknown_category(settings: Settings, data_dir: Path) -> None:
    def crypto(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame.index[::500], "merchant_category"] = "crypto_exchange"
        return frame

    rewrite_raw(data_dir, "transactions", crypto)
    error = blocked(settings, "transactions")
    failure = find(error.result.blocking, "expect_column_values_to_be_in_set", "merchant_category")
    assert set(failure.samples) == {"crypto_exchange"}
    assert "crypto_exchange" in str(error)


def test_stale_timestamps(settings: Settings, data_dir: Path) -> None:
    def stale(frame: pd.DataFrame) -> pd.DataFrame:
        frame["event_timestamp"] -= timedelta(days=30)
        return frame

    rewrite_raw(data_dir, "transactions", stale)
    error = blocked(settings, "transactions")
    failure = find(error.result.blocking, "expect_column_max_to_be_between", "event_timestamp")
    assert failure.check == "freshness"
    # Shifting back also pushes the oldest events before the data set's start.
    find(error.result.blocking, "expect_column_values_to_be_between", "event_timestamp")


def test_freshness_age_is_configurable(settings: Settings, data_dir: Path) -> None:
    def stale(frame: pd.DataFrame) -> pd.DataFrame:
        frame["event_timestamp"] -= timedelta(days=5)
        return frame

    rewrite_raw(data_dir, "clickstream", stale)
    with pytest.raises(QualityGateFailed):
        gate(settings, tables=["clickstream"])
    # Five days is stale by default (two days) but fresh enough when ten are allowed; the
    # oldest events still fall inside the window since the shift is smaller than its margin.
    result = gate(settings, tables=["clickstream"], max_age=timedelta(days=10),
                  raise_on_blocking=False)
    assert not [f for f in result.blocking if f.expectation == "expect_column_max_to_be_between"]


def test_dropped_column(settings: Settings, data_dir: Path) -> None:
    rewrite_raw(data_dir, "transactions", lambda frame: frame.drop(columns=["amount"]))
    error = blocked(settings, "transactions")
    failure = find(error.result.blocking, "expect_table_columns_to_match_set", None)
    assert failure.blocking and failure.samples == ("missing: amount",)
    assert error.result.blocking[0] == failure  # schema failures are listed first


def test_shifted_distribution(settings: Settings, data_dir: Path) -> None:
    gate(settings, tables=["transactions"])  # the first good run writes the reference profile

    def inflate(frame: pd.DataFrame) -> pd.DataFrame:
        frame["amount"] *= 3  # e.g. a currency or unit change upstream
        return frame

    rewrite_raw(data_dir, "transactions", inflate)
    error = blocked(settings, "transactions")
    failure = find(error.result.blocking, "expect_column_mean_to_be_between", "amount")
    assert failure.check == "distribution"
    quantiles = find(error.result.warnings, "expect_column_quantiles_to_be_between", "amount")
    assert not quantiles.blocking


def test_row_count_change_only_warns(settings: Settings, data_dir: Path) -> None:
    gate(settings, tables=["clickstream"])
    rewrite_raw(data_dir, "clickstream", lambda frame: frame.iloc[: len(frame) // 3])
    result = gate(settings, tables=["clickstream"])  # does not raise: a warning only
    assert result.passed
    failure = find(result.warnings, "expect_table_row_count_to_be_between", None)
    assert failure.check == "row_count"


def test_missing_table(settings: Settings, data_dir: Path) -> None:
    error = blocked(settings, "customer_spend_features", stage="features")
    assert error.result.blocking[0].expectation == "table_exists"


def test_feature_shares_must_sum_to_one(settings: Settings, data_dir: Path) -> None:
    mart = spend_mart(data_dir)
    write_mart(data_dir, "customer_spend_features", mart)
    assert gate(settings, "features", tables=["customer_spend_features"]).passed

    shares = [c for c in mart.columns if c.startswith("share_") and c.endswith("_30d")]
    mart.loc[[2, 5], shares] *= 0.5  # shares of two rows now sum to 0.5: a broken denominator
    write_mart(data_dir, "customer_spend_features", mart)
    error = blocked(settings, "customer_spend_features", stage="features")
    failure = find(error.result.blocking, "expect_column_values_to_be_between", "share_sum_30d")
    assert failure.unexpected_count == 2
    assert all(abs(v - 0.5) < 1e-9 for v in failure.samples)
