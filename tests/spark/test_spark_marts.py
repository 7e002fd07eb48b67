"""The spark warehouse builds the same marts as DuckDB, incrementally and as of each date.

Both run the same dbt models; where the dialects differ (no QUALIFY on Spark, its 32-bit
``hash`` and ``datediff``, percentiles, whole-day partitions for incremental models) the
macros dispatch. These tests hold the two warehouses' outputs equal on the session's data set.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from smartstack.settings import Settings, Warehouse
from tests.conftest import BuiltHome
from tests.dbt.dbt_build_helpers import CUT_AT, assert_unchanged_as_of_the_cut
from tests.spark.conftest import SparkHome
from tests.spark.spark_helpers import assert_marts_equal, duckdb_marts, spark_marts

pytestmark = pytest.mark.slow


def test_spark_builds_duckdbs_marts_row_for_row(spark_home: SparkHome, built: BuiltHome) -> None:
    """After a first build of the cut data and an incremental one of the rest (Spark's
    insert_overwrite of the trailing days), every mart equals DuckDB's full build."""
    expected = duckdb_marts(built.data_dir / "features")
    assert len(expected) >= 8
    assert_marts_equal(spark_marts(spark_home.features_dir), expected)


def test_spark_features_as_of_the_cut_ignore_everything_after_it(
    spark_home: SparkHome, built: BuiltHome
) -> None:
    """The point-in-time test on Spark: rows as of the cut, built from the data known then,
    equal the rows of the full build."""
    assert_unchanged_as_of_the_cut(duckdb_marts(built.data_dir / "features"), spark_home.cut_marts)
    cut_at = pd.Timestamp(CUT_AT).tz_localize(None)
    labels = spark_home.cut_marts["training_impressions"]
    assert labels["event_timestamp"].max() < cut_at


def test_spark_runs_the_unit_tests(spark_home: SparkHome) -> None:
    """dbt's unit tests of the models ran on Spark in each build (and passed: the builds
    succeeded)."""
    for output in spark_home.outputs:
        ran = re.search(r"(\d+) unit tests", output)
        assert ran is not None and int(ran.group(1)) >= 10, output[-3000:]


@pytest.mark.parametrize("model, day", [
    ("int_transactions_aggregated_daily", "txn_day"),
    ("int_clickstream_events_aggregated_daily", "event_day"),
    ("int_impression_events_unpivoted", "event_day"),
])
def test_incremental_models_are_kept_by_day(spark_home: SparkHome, model: str, day: str) -> None:
    """Each incremental model is a table partitioned by its day, so an increment overwrites the
    days it recomputes and keeps the others (without the partitioning Spark would replace the
    whole table with the trailing days)."""
    table = Settings(home=spark_home.home, warehouse=Warehouse.spark).spark_tables_dir / model
    days = [path.name for path in table.iterdir() if path.name.startswith(f"{day}=")]
    assert len(days) > 30, sorted(table.iterdir())[:5]
