"""Helpers of the Spark profile's tests: read a warehouse's feature marts as frames in one row
order, whichever warehouse wrote them."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tests.dbt.dbt_build_helpers import sort_frame


def duckdb_marts(features_dir: Path) -> dict[str, pd.DataFrame]:
    """DuckDB's marts (``<mart>.parquet``). dbt-duckdb writes an empty mart as one row of nulls
    (its external materialization needs a row to keep the columns' types) and reads it back
    without that row: dropped here as well."""
    marts = {}
    for path in sorted(features_dir.glob("*.parquet")):
        table = pq.read_table(path)
        valid = [pc.is_valid(column) for column in table.columns]
        written = table.filter(functools.reduce(pc.or_, valid)) if valid else table
        marts[path.stem] = sort_frame(written.to_pandas())
    return marts


def spark_marts(features_dir: Path) -> dict[str, pd.DataFrame]:
    """Spark's marts: a folder of Parquet parts each (``<mart>.parquet/part-*.parquet``)."""
    return {
        path.stem: sort_frame(pq.read_table(path).to_pandas())
        for path in sorted(features_dir.glob("*.parquet"))
        if path.is_dir()
    }


def assert_marts_equal(actual: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    """The same marts, columns (names and types, in any order) and rows, within float
    tolerance."""
    assert sorted(actual) == sorted(expected)
    for name, frame in expected.items():
        other = actual[name][list(frame.columns)] if set(actual[name]) == set(frame) else actual[name]
        pd.testing.assert_frame_equal(other, frame, check_exact=False, rtol=1e-9, obj=name)
