"""
### Smart Stack daily pipeline

Lands the raw tables, gates them with Great Expectations, builds the dbt feature marts (one
task per model with its tests), gates the marts, registers the Feast definitions and loads the
online store, trains an XGBoost challenger in MLflow, judges it against the champion and
promotes or rejects it, then tells the ranking service to load the champion.

Every task runs a `smartstack` command of the project environment; see `dags/README.md`.
Params: `source` (`synthetic`: generate the seeded data set; `landed`: use the raw tables
already in the data folder), `customers` and `seed` (synthetic only).
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import Param, chain, dag
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
    # The embedded warehouse is one DuckDB file, which takes one writer at a time.
    max_active_tasks=1,
    default_args=groups.DEFAULT_ARGS,
    dagrun_timeout=timedelta(hours=4),
    tags=["smartstack", "daily"],
    doc_md=__doc__,
    params={
        "source": Param(
            os.environ.get("SMARTSTACK_INGEST_SOURCE", "synthetic"),
            enum=["synthetic", "landed"],
            description="Where the raw tables come from.",
        ),
        "customers": Param(10_000, type="integer", minimum=1, description="Synthetic only."),
        "seed": Param(42, type="integer", description="Synthetic only."),
    },
)
def smartstack_daily() -> None:
    chain(
        groups.ingest("{{ params.source }}", "{{ params.customers }}", "{{ params.seed }}"),
        groups.dbt_build(),
        groups.feature_gate(),
        groups.feature_store(),
        groups.model(),
        groups.serving(),
    )


smartstack_daily()
