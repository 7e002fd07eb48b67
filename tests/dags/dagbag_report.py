"""Run by Airflow's interpreter (``.venv-airflow``): parse the DAG folder as the DAG processor
does and print what the DAG tests check, as JSON on the last line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from airflow.dag_processing.dagbag import BundleDagBag
from airflow.utils.dag_cycle_tester import check_cycle

dags = Path(sys.argv[1])
bag = BundleDagBag(dag_folder=dags, bundle_path=dags)
report: dict = {"import_errors": bag.import_errors, "dags": {}}
for dag_id, dag in bag.dags.items():
    try:
        check_cycle(dag)
        cycle = None
    except Exception as error:  # noqa: BLE001 - reported, the test fails on it
        cycle = str(error)
    report["dags"][dag_id] = {
        "cycle": cycle,
        "tags": sorted(dag.tags),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "schedule": str(dag.timetable.summary),
        "timetable": dag.timetable.serialize(),
        "start_date": str(dag.start_date) if dag.start_date else None,
        "params": sorted(dag.params.keys()),
        "fileloc": dag.fileloc,
        "tasks": {
            task.task_id: {
                "retries": task.retries,
                "timeout": task.execution_timeout.total_seconds()
                if task.execution_timeout
                else None,
                "backoff": task.retry_exponential_backoff,
                "upstream": sorted(task.upstream_task_ids),
                "downstream": sorted(task.downstream_task_ids),
                "operator": type(task).__name__,
                "trigger_rule": getattr(task.trigger_rule, "value", task.trigger_rule),
                "outlets": sorted(getattr(o, "name", str(o)) for o in task.outlets),
                "inlets": sorted(getattr(i, "name", str(i)) for i in task.inlets),
                "extra_links": {link.name: link.xcom_key for link in task.operator_extra_links},
                # Cosmos's dbt operators: the profiles.yml target they run dbt with.
                "dbt_target": getattr(getattr(task, "profile_config", None), "target_name", None),
            }
            for task in dag.tasks
        },
    }
print(json.dumps(report))
