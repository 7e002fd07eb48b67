"""The Spark session of the spark warehouse, for the steps after dbt.

dbt-spark starts its own session from profiles.yml's ``spark`` target; Feast's Spark offline
store (training sets, materialization) and xgboost.spark take theirs from :func:`spark_conf`,
which holds the same values: the master (``local[N]`` here, a cluster's URL in production),
UTC as the session's zone, and Parquet timestamps as 64-bit microseconds.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from smartstack.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def spark_conf(settings: Settings) -> dict[str, str]:
    """The session's configuration: what Feast's ``spark_conf`` and the builder take. Whoever
    takes it starts a session, so Spark's Python workers are pointed at this interpreter first
    (:func:`use_this_interpreter`) and py4j's chatter is silenced (:func:`quiet_py4j`)."""
    use_this_interpreter()
    quiet_py4j()
    return {
        "spark.master": settings.spark_master,
        # Read when the JVM starts: PySpark launches it with this configuration.
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.app.name": "smartstack",
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.warehouse.dir": str(settings.spark_dir / "warehouse"),
        "spark.ui.enabled": "false",
        "spark.log.level": "ERROR",
        # pandas frames (a training set) go to Spark as Arrow batches, not row by row.
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }


def use_this_interpreter() -> None:
    """Spark's Python workers (xgboost.spark's) run this environment's interpreter, unless
    PYSPARK_PYTHON names a cluster's. PySpark reads the variable when a session's context
    starts, whoever starts it (Feast's offline store starts its own), and no configuration key
    replaces it; its default is the first ``python3`` on PATH, without the project's packages."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def quiet_py4j() -> None:
    """py4j logs at INFO each time its gateway opens or closes, the last at the interpreter's
    exit: after the JSON line a command prints last, which is what the Airflow tasks return
    (a CLI that logs at INFO would otherwise end on "Closing down clientserver connection")."""
    logging.getLogger("py4j").setLevel(logging.WARNING)


def spark_session(settings: Settings) -> SparkSession:
    """This process' session (started on first use; the JVM stays up for the process)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
