"""The one setting that moves the batch steps to Spark, read by dbt, Feast and Spark itself."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from smartstack.features.dbt import dbt_command, dbt_vars, landed_tables, profile_environment
from smartstack.featurestore.config import config_dict
from smartstack.settings import Settings, Warehouse
from smartstack.spark import spark_conf
from smartstack.training.dataset import chunk_rows


def _part(folder: Path) -> None:
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"event_id": ["e1"]}), folder / "part-0.parquet")


def test_the_landed_tables_are_those_with_a_parquet_part(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, warehouse=Warehouse.spark)
    assert landed_tables(settings) == []
    _part(settings.data_dir / "feedback")
    (settings.data_dir / "quiz_answers").mkdir(parents=True)  # a folder without parts
    _part(settings.ranking_log_dir / "date=2026-06-01")
    assert landed_tables(settings) == ["feedback", "ranking_log"]


def test_dbt_runs_on_the_spark_target_with_the_master_and_the_landed_tables(
    tmp_path: Path,
) -> None:
    spark = Settings(home=tmp_path, warehouse=Warehouse.spark, spark_master="spark://m:7077",
                     spark_driver_memory="6g", spark_shuffle_partitions=64)
    local = Settings(home=tmp_path)
    command = dbt_command(["build"], spark)
    assert command[command.index("--target") + 1] == "spark"
    environment = profile_environment(spark)
    assert environment["SMARTSTACK_SPARK_MASTER"] == "spark://m:7077"
    assert environment["SMARTSTACK_SPARK_DRIVER_MEMORY"] == "6g"
    assert environment["SMARTSTACK_SPARK_SHUFFLE_PARTITIONS"] == "64"
    assert dbt_vars(spark)["landed_tables"] == []
    assert "landed_tables" not in dbt_vars(local)


def test_feast_reads_the_marts_through_spark_on_the_same_master(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, warehouse=Warehouse.spark, spark_master="local[3]")
    offline = config_dict(settings)["offline_store"]
    assert offline["type"] == "spark"
    assert offline["spark_conf"] == spark_conf(settings)
    assert offline["spark_conf"]["spark.master"] == "local[3]"
    assert offline["spark_conf"]["spark.driver.memory"] == settings.spark_driver_memory
    assert offline["spark_conf"]["spark.sql.shuffle.partitions"] == "4"
    assert config_dict(Settings(home=tmp_path))["offline_store"] == {"type": "duckdb"}
    assert settings.mart_path("offer_features") == settings.features_dir / "offer_features.parquet"


@pytest.mark.parametrize("memory, gib", [("4g", 4.0), ("12G", 12.0), ("2048m", 2.0),
                                         ("1t", 1024.0), ("512", 0.5), ("8gb", 8.0)])
def test_the_drivers_heap_is_read_in_sparks_units(tmp_path: Path, memory: str, gib: float) -> None:
    settings = Settings(home=tmp_path, warehouse=Warehouse.spark, spark_driver_memory=memory)
    assert settings.spark_driver_memory_gib == gib


def test_a_heap_spark_would_not_read_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="spark_driver_memory"):
        Settings(home=tmp_path, spark_driver_memory="four gigabytes")


def test_a_training_set_chunk_on_spark_grows_with_the_drivers_heap(tmp_path: Path) -> None:
    """Feast's Spark store collects each chunk in the driver: a larger heap, fewer joins, up to
    the chunk of the other warehouses."""
    local = Settings(home=tmp_path)
    rows = {memory: chunk_rows(local.model_copy(update={"warehouse": Warehouse.spark,
                                                          "spark_driver_memory": memory}))
            for memory in ("1g", "4g", "8g", "64g")}
    assert rows["1g"] < rows["4g"] < rows["8g"] == 2 * rows["4g"]
    assert rows["64g"] == chunk_rows(local) == local.training.chunk_rows
