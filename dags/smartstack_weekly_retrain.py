"""
### Smart Stack weekly retraining

The daily pipeline's steps on everything landed since the last run, the customers' feedback
included (the stream processor writes the deduplicated feedback events, and dbt turns them
into training labels): gates the landed raw tables, rebuilds the dbt feature marts, gates
them, refreshes Feast, trains a challenger, judges it against the champion, promotes it only
on a passing verdict, explains the top offers and tells the ranking service. No data is
generated: the raw tables are used as landed.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag
from airflow.timetables.trigger import CronTriggerTimetable
from smartstack_airflow import groups

from smartstack.pipeline import PARAMETERS


@dag(
    dag_id="smartstack_weekly_retrain",
    # No start_date, and run_immediately=timedelta(0): unpausing the DAG waits for the next slot
    # instead of starting a run for the last one next to the run `smartstack up` triggers.
    # (run_immediately=False would still run a slot that passed less than 10% of a period ago.)
    schedule=CronTriggerTimetable("0 4 * * 0", timezone="UTC", run_immediately=timedelta(0)),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=groups.MAX_ACTIVE_TASKS,
    default_args=groups.DEFAULT_ARGS,
    dagrun_timeout=timedelta(hours=6),
    tags=["smartstack", "weekly", "retraining"],
    doc_md=__doc__,
)
def smartstack_weekly_retrain() -> None:
    groups.pipeline({**{k: str(v) for k, v in PARAMETERS.items()}, "source": "landed"})


smartstack_weekly_retrain()
