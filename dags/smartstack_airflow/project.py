"""Where the project and its environment are, seen from Airflow's environment.

Read from the environment at parse time (no database, no network): ``SMARTSTACK_VENV`` is the
project environment (default ``<repo>/.venv``), ``SMARTSTACK_DBT_TARGET`` the profiles.yml
target the dbt tasks use (``local``, ``bigquery`` or ``spark``; by default the one of
``SMARTSTACK_WAREHOUSE``, so that one setting moves the whole DAG to Spark; ``smartstack-dbt``
refuses a target that does not match the warehouse setting). Everything else, such as
``SMARTSTACK_HOME``, passes through the task's environment to the project's own settings.
"""

from __future__ import annotations

import os
from pathlib import Path

from smartstack.interpreter import OPTIMIZED

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("SMARTSTACK_VENV", REPO / ".venv"))
SMARTSTACK = VENV / "bin" / "smartstack"
SMARTSTACK_DBT = VENV / "bin" / "smartstack-dbt"
DBT_PROJECT = REPO / "dbt_project"
# smartstack.features.dbt.TARGETS, read here without the project's settings (Airflow's
# environment has none of its dependencies).
_WAREHOUSE_TARGETS = {"duckdb": "local", "bigquery": "bigquery", "spark": "spark"}
DBT_TARGET = os.environ.get("SMARTSTACK_DBT_TARGET") or _WAREHOUSE_TARGETS.get(
    os.environ.get("SMARTSTACK_WAREHOUSE", "duckdb"), "local"
)

# Variables of Airflow's environment that must not leak into the project's interpreter.
_AIRFLOW_ONLY = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")


def project_environment() -> dict[str, str]:
    """The task's environment for a project command: Airflow's interpreter settings removed,
    Python optimized (``smartstack.interpreter``), unbuffered output and wide lines so the task
    log reads like a terminal."""
    env = {k: v for k, v in os.environ.items() if k not in _AIRFLOW_ONLY}
    env.update(OPTIMIZED, PYTHONUNBUFFERED="1", COLUMNS="160", NO_COLOR="1")
    return env
