"""
### Smart Stack daily pipeline

The pipeline's steps (`smartstack steps` lists them), one task each: lands the data set's raw
tables, gates them with Great Expectations, builds the dbt feature marts (one task per model
with its tests, then the tests across models), gates the marts, registers the Feast
definitions and loads the online store, trains an XGBoost challenger in MLflow, judges it
against the champion and promotes it only on a passing verdict, explains each customer's top
offers, then tells the ranking service to load the champion and the catalogue.

Every task runs a `smartstack` command of the project environment; see `dags/README.md`.
Params: `source` (`dataset`: the data set's adapter lands it, the seeded generator for the
synthetic one; `landed`: use the raw tables already in the data folder), `customers` and
`seed` (generated data sets only).
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import Param, dag
from airflow.timetables.trigger import CronTriggerTimetable
from smartstack_airflow import groups


@dag(
    dag_id="smartstack_daily",
    # No start_date, and run_immediately=timedelta(0): unpausing the DAG waits for the next slot
    # instead of starting a run for the last one next to the run `smartstack up` triggers.
    # (run_immediately=False would still run a slot that passed less than 10% of a period ago.)
    schedule=CronTriggerTimetable("0 2 * * *", timezone="UTC", run_immediately=timedelta(0)),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=groups.MAX_ACTIVE_TASKS,
    default_args=groups.DEFAULT_ARGS,
    dagrun_timeout=timedelta(hours=4),
    tags=["smartstack", "daily"],
    doc_md=__doc__,
    params={
        "source": Param(
            os.environ.get("SMARTSTACK_INGEST_SOURCE", "dataset"),
            enum=["dataset", "landed"],
            description="Where the raw tables come from.",
        ),
        "customers": Param(10_000, type="integer", minimum=1, description="Generated only."),
        "seed": Param(42, type="integer", description="Generated only."),
    },
)
def smartstack_daily() -> None:
    groups.pipeline(
        {
            "source": "{{ params.source }}",
            "customers": "{{ params.customers }}",
            "seed": "{{ params.seed }}",
        }
    )


smartstack_daily()
