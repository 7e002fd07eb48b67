"""The daily DAG run whole (``airflow dags test``) on each warehouse, one after the other.

Each run gets a home and an Airflow database of its own, generates its data set and runs every
task for real, as ``tests/dags/test_daily_run.py`` does on DuckDB; with ``spark`` the home's
settings (and so every task's ``smartstack`` command) say ``SMARTSTACK_WAREHOUSE=spark``. Prints
each run's wall time, its outcome and every task's final state that is not ``success``.

    PYTHONPATH=. .venv/bin/python bench/bench_dag_warehouses.py --work /work/dag-runs \
        [--warehouses duckdb,spark] [--customers 400]
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from tests.dags.airflow_helpers import airflow_home_at, dag_test


def run_on(warehouse: str, root: Path, customers: int) -> None:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    os.environ["SMARTSTACK_WAREHOUSE"] = warehouse  # read by the home's Settings
    home = airflow_home_at(root, None)
    assert home.settings.warehouse.value == warehouse
    started = time.perf_counter()
    run = dag_test(home, {"customers": customers, "seed": 7}, timeout=5400)
    seconds = time.perf_counter() - started
    (root / "dag-output.log").write_text(run.output)
    others = {task: state for task, state in run.states.items() if state != "success"}
    print(f"{warehouse:<7} {seconds:7.1f} s  succeeded={run.succeeded}  tasks={len(run.states)}"
          f"  not success: {others}  load average {os.getloadavg()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="a home per warehouse here")
    parser.add_argument("--warehouses", default="duckdb,spark")
    parser.add_argument("--customers", type=int, default=400)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    for warehouse in args.warehouses.split(","):
        run_on(warehouse, args.work / warehouse, args.customers)


if __name__ == "__main__":
    main()
