"""The jobs that read the warehouse after dbt (monitoring) and the erasure that rewrites it, on
the tables Spark built: what the daily DAG's lanes after promotion run on the spark warehouse.

They read the same rows as from DuckDB's build of the same data, and an erased customer is gone
from every table Spark reads back, with the other rows intact.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from smartstack.data.warehouse import read_warehouse, spark_tables
from smartstack.monitoring import drift
from smartstack.monitoring.outcomes import read_outcomes
from smartstack.settings import Settings, Warehouse
from tests.conftest import BuiltHome, project_environment
from tests.spark.conftest import SparkHome

pytestmark = pytest.mark.slow

# Counts, with Spark itself, each table's rows and the customer's rows (argv: home, customer).
SPARK_COUNTS = """
import json, sys
from pathlib import Path
from smartstack.data.warehouse import spark_tables
from smartstack.settings import Settings, Warehouse
from smartstack.spark import spark_session

settings = Settings(home=Path(sys.argv[1]), warehouse=Warehouse.spark)
spark = spark_session(settings)
counts = {}
for name, folder in spark_tables(settings).items():
    table = spark.read.parquet(str(folder))
    held = table.filter(table.customer_id == sys.argv[2]).count() if "customer_id" in table.columns else 0
    counts[name] = [table.count(), held]
print(json.dumps(counts))
"""


def _spark_counts(home: Path, customer_id: str) -> dict[str, list[int]]:
    done = subprocess.run(
        [sys.executable, "-c", SPARK_COUNTS, str(home), customer_id],
        env=project_environment(), capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_table_spark_built_is_read_under_its_name(spark_home: SparkHome) -> None:
    settings = Settings(home=spark_home.home, warehouse=Warehouse.spark)
    tables = spark_tables(settings)
    assert {"monitoring_outcomes_daily", "customer_spend_features",
            "int_transactions_aggregated_daily"} <= set(tables)
    with read_warehouse(settings) as warehouse:
        [(days,)] = warehouse.execute("select count(distinct txn_day) from "
                                      "int_transactions_aggregated_daily").fetchall()
    assert days > 30  # the partition column, read from the folders' names


def test_outcomes_read_from_spark_equal_duckdbs(spark_home: SparkHome, built: BuiltHome) -> None:
    spark = read_outcomes(Settings(home=spark_home.home, warehouse=Warehouse.spark))
    pd.testing.assert_frame_equal(spark.rows, read_outcomes(built.settings).rows,
                                  check_dtype=False)


def test_drifts_sides_read_from_spark_equal_duckdbs(spark_home: SparkHome, built: BuiltHome) -> None:
    """The drift job's two sides of the customer marts, drawn by the same hashes from either
    warehouse's tables."""
    with read_warehouse(built.settings) as warehouse:
        dates = warehouse.sql("select distinct event_timestamp from customer_spend_features "
                              "order by 1").df()["event_timestamp"]
    window = (dates.iloc[0], dates.iloc[len(dates) // 2])
    spark = drift._mart_sides(Settings(home=spark_home.home, warehouse=Warehouse.spark), window,
                              rows=300, score_customers=20)
    local = drift._mart_sides(built.settings, window, rows=300, score_customers=20)
    assert len(local.reference) > 100 and len(local.score_customers) == 20
    assert (spark.newest, spark.reference_as_of, spark.score_customers) == (
        local.newest, local.reference_as_of, local.score_customers)
    key = ["customer_id", "event_timestamp"]
    for side in ("reference", "current"):
        expected = getattr(local, side).sort_values(key, ignore_index=True)
        actual = getattr(spark, side).sort_values(key, ignore_index=True)
        pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-9)


def test_an_erased_customer_is_gone_from_every_table_spark_reads(
    spark_home: SparkHome, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(spark_home.home, home, ignore=shutil.ignore_patterns("mlflow"))
    customers = pd.read_parquet(home / "data" / "raw" / "customers", columns=["customer_id"])
    customer = str(customers["customer_id"].iloc[0])
    before = _spark_counts(home, customer)
    held = {name: rows for name, (_, rows) in before.items() if rows}
    assert {"customer_spend_features", "int_transactions_aggregated_daily"} <= set(held)
    erased = subprocess.run(
        [str(Path(sys.executable).parent / "smartstack"), "privacy", "erase", customer],
        env=project_environment(SMARTSTACK_HOME=str(home), SMARTSTACK_WAREHOUSE="spark"),
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert erased.returncode == 0, (erased.stdout + erased.stderr)[-3000:]
    after = _spark_counts(home, customer)
    assert after == {name: [total - held.get(name, 0), 0]
                     for name, (total, _) in before.items()}
