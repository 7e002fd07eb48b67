"""A table validated a few columns at a time gets the verdict and failures it gets whole."""

from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
from great_expectations.expectations.row_conditions import Column

from smartstack.data.schema import MERCHANT_CATEGORIES
from smartstack.quality import gate as quality_gate
from smartstack.quality.batches import column_batches, read_columns, splittable, with_placeholders
from smartstack.quality.gate import GateResult, run_gate, write_reference
from smartstack.quality.suites import Stage, SuiteInputs, Window, load_stage
from smartstack.settings import Settings

from .helpers import EXPECTATIONS, affinity_mart, rewrite_raw, spend_mart, write_mart


def gate(
    data_dir: Path, home: Path, table: str, max_cells: int | None = None, stage: Stage = "raw"
) -> GateResult:
    limit = {} if max_cells is None else {"quality_max_cells": max_cells}
    settings = Settings(home=home, data_dir=data_dir, **limit)
    return run_gate(
        stage, settings, tables=[table], expectations_dir=EXPECTATIONS, raise_on_blocking=False
    )


def outcome(result: GateResult) -> tuple[object, ...]:
    [report] = result.tables
    failures = sorted(
        (f.expectation, f.column, f.blocking, f.unexpected_count, f.samples)
        for f in report.failures
    )
    return result.passed, report.rows, report.evaluated, failures


def test_clean_tables_pass_in_batches_as_they_do_whole(data_dir: Path, tmp_path: Path) -> None:
    for table in ("transactions", "impressions"):
        whole = gate(data_dir, tmp_path / "whole", table)
        batched = gate(data_dir, tmp_path / "batched", table, max_cells=1)
        assert whole.passed and outcome(batched) == outcome(whole)
        # each batch is a validation of its own in the Data Docs
        docs = batched.docs_path
        assert docs is not None
        pages = list((docs.parent / "validations" / "raw" / table).rglob("*.html"))
        assert len(pages) > 1
    profiles = [
        (tmp_path / home / "quality" / "reference" / "raw.json").read_text()
        for home in ("whole", "batched")
    ]
    assert profiles[0] == profiles[1]


def test_bad_data_fails_in_batches_as_it_does_whole(data_dir: Path, tmp_path: Path) -> None:
    def corrupt(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame.index[[3, 17, 40]], "transaction_id"] = None
        frame.loc[frame.index[:5], "amount"] = -frame["amount"].iloc[:5]
        frame.loc[frame.index[7:9], "merchant_category"] = "casino"
        return frame.drop(columns=["channel"])

    rewrite_raw(data_dir, "transactions", corrupt)
    whole = gate(data_dir, tmp_path / "whole", "transactions")
    batched = gate(data_dir, tmp_path / "batched", "transactions", max_cells=1)
    assert not whole.passed
    assert outcome(batched) == outcome(whole)
    caught = {(f.expectation, f.column) for f in batched.blocking}
    assert {
        ("expect_column_values_to_not_be_null", "transaction_id"),
        ("expect_column_values_to_be_between", "amount"),
        ("expect_column_values_to_be_in_set", "merchant_category"),
        ("expect_table_columns_to_match_set", None),
    } <= caught


def test_a_derived_column_is_checked_in_batches_as_it_is_whole(
    data_dir: Path, tmp_path: Path
) -> None:
    """The spend mart's share sums are computed (``PREPARE``) from the share columns, which a
    batch that checks them loads for it alone. Two rows' shares are halved: both runs evaluate
    the same expectations and find the same failures (every other expectation passes)."""
    mart = spend_mart(data_dir)
    shares = [c for c in mart.columns if c.startswith("share_") and c.endswith("_30d")]
    mart.loc[[2, 5], shares] *= 0.5
    write_mart(data_dir, "customer_spend_features", mart)
    whole, batched = (
        gate(data_dir, tmp_path / mode, "customer_spend_features", limit, "features")
        for mode, limit in (("whole", None), ("batched", 1))
    )
    assert not whole.passed and outcome(batched) == outcome(whole)
    [failure] = whole.blocking
    assert failure.column == "share_sum_30d" and failure.unexpected_count == 2
    [failure] = [f for f in batched.blocking if f.column == "share_sum_30d"]
    assert failure.unexpected_count == 2


def test_affinity_shares_are_summed_per_customer_and_date_as_pandas_groups_them() -> None:
    """The affinity mart's share sums (one ``bincount`` over a code per customer and date) are
    pandas' groupby sums over the same keys: nulls count as 0, a row without a customer or a
    date has no sum, and a group without spend has none either."""
    rng = np.random.default_rng(3)
    rows = 5_000
    customers = [f"C{i}" for i in range(300)]
    weeks = rng.integers(0, 4, rows) * 7
    frame = pd.DataFrame(
        {
            "customer_id": pd.array(rng.choice(customers, rows), dtype="string[pyarrow]"),
            "event_timestamp": pd.Timestamp("2026-06-01", tz="UTC")
            + pd.to_timedelta(weeks, unit="D"),
        }
    )
    for name in ("share_30d", "share_90d", "spend_30d", "spend_90d"):
        frame[name] = rng.uniform(0, 1, rows)
    frame.loc[rng.choice(rows, 200), "share_30d"] = np.nan
    frame.loc[rng.choice(rows, 5), "customer_id"] = None
    frame.loc[rng.choice(rows, 5), "event_timestamp"] = pd.NaT
    unspent = frame["customer_id"] == "C7"
    frame.loc[unspent, ["spend_30d", "spend_90d"]] = 0.0

    derived = load_stage("features", EXPECTATIONS).derived["customer_category_affinity"]
    summed = derived.prepare(frame[list(derived.reads)].copy())
    groups = frame.groupby(["customer_id", "event_timestamp"], sort=False)
    for w in (30, 90):
        expected = groups[f"share_{w}d"].transform("sum").where(
            groups[f"spend_{w}d"].transform("sum") > 0
        )
        pd.testing.assert_series_equal(
            summed[f"category_share_sum_{w}d"], expected, check_names=False, rtol=1e-12
        )
    assert summed.loc[unspent, "category_share_sum_30d"].isna().all()


def test_affinity_shares_that_do_not_sum_to_one_fail_whole_and_in_batches(
    data_dir: Path, tmp_path: Path
) -> None:
    """One customer's categories on one date whose shares were halved: its ten rows fail, and
    nothing else does, validated whole or in batches."""
    mart = affinity_mart(data_dir)
    write_mart(data_dir, "customer_category_affinity", mart)
    assert gate(data_dir, tmp_path / "clean", "customer_category_affinity", None, "features").passed
    broken = (mart["customer_id"] == mart["customer_id"].iloc[0]) & (
        mart["event_timestamp"] == mart["event_timestamp"].iloc[0]
    )
    mart.loc[broken, "share_30d"] *= 0.5
    write_mart(data_dir, "customer_category_affinity", mart)
    whole, batched = (
        gate(data_dir, tmp_path / mode, "customer_category_affinity", limit, "features")
        for mode, limit in (("whole", None), ("batched", 1))
    )
    assert outcome(batched) == outcome(whole)
    [failure] = whole.blocking
    assert failure.column == "category_share_sum_30d"
    assert failure.unexpected_count == broken.sum() == len(MERCHANT_CATEGORIES)


def test_a_batch_holds_every_expectation_on_its_columns_once(data_dir: Path) -> None:
    suites = load_stage("raw", EXPECTATIONS).suites
    inputs = SuiteInputs("impressions", Window.from_manifest(data_dir), None, {})
    expectations = suites["impressions"](inputs)
    batches = column_batches(expectations)
    placed = [id(e) for batch in batches for e in batch.expectations]
    assert sorted(placed) == sorted(map(id, expectations))
    columns = [c for batch in batches for c in batch.columns]
    assert len(columns) == len(set(columns))  # no column's values are loaded twice
    for batch in batches:
        for expectation in batch.expectations:
            assert read_columns(expectation) <= set(batch.columns)
    # the funnel's ordered pairs chain four columns into one batch; the column set and row
    # count read no column
    assert {"shown_at", "viewed_at", "clicked_at", "redeemed_at"} <= set(
        next(b.columns for b in batches if "viewed_at" in b.columns)
    )
    assert batches[0].columns == () and batches[0].expectations


def test_a_row_condition_keeps_the_suite_whole() -> None:
    plain = gxe.ExpectColumnValuesToNotBeNull(column="amount")
    conditional = gxe.ExpectColumnValuesToNotBeNull(
        column="amount", row_condition=Column("channel") == "online"
    )
    assert splittable([plain]) and not splittable([plain, conditional])


def test_placeholder_columns_hold_no_memory() -> None:
    rows = 1_000_000
    frame = with_placeholders(
        pd.DataFrame({"amount": np.ones(rows)}), ["id", "amount", "at"], rows
    )
    assert list(frame.columns) == ["amount", "id", "at"] and len(frame) == rows
    assert frame["id"].isna().all() and frame["at"].array.nbytes == 0



def test_a_new_reference_is_the_profile_the_first_good_run_writes(
    data_dir: Path, tmp_path: Path
) -> None:
    gate(data_dir, tmp_path / "gate", "transactions")
    settings = Settings(home=tmp_path / "command", data_dir=data_dir)
    profiles = write_reference("raw", settings, expectations_dir=EXPECTATIONS)
    assert set(profiles) >= {"transactions", "customers", "offers"}
    written = [
        json.loads((tmp_path / home / "quality" / "reference" / "raw.json").read_text())
        for home in ("gate", "command")
    ]
    assert written[1]["transactions"] == written[0]["transactions"]


def test_a_validated_frame_is_neither_kept_nor_fingerprinted(tmp_path: Path) -> None:
    """GX's engine caches each batch's frame and metrics; the gate drops them after a run, or
    it would hold every table and batch it validated at once."""
    context = quality_gate._context(tmp_path)
    datasource = context.data_sources.add_or_update_pandas(name="raw")
    frame = pd.DataFrame({"amount": np.arange(10_000.0)})
    kept = weakref.ref(frame)
    suite = gx.ExpectationSuite(
        name="raw.amounts", expectations=[gxe.ExpectColumnValuesToBeUnique(column="amount")]
    )
    _, validation = quality_gate._validate(context, datasource, suite, frame)
    del frame
    gc.collect()
    assert validation.success and kept() is None
    # nor fingerprinted: GX would hash every cell of it (Arrow strings as Python objects)
    assert "pandas_data_fingerprint" not in validation.meta["batch_markers"]
