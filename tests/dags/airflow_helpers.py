"""Run Airflow from its own environment (``.venv-airflow``) against a temporary home.

The tests run in the project environment and call Airflow as a subprocess, exactly as the run
command does: same configuration (``smartstack.stack.airflow.airflow_environment``), a fresh
SQLite metadata database per home, the repository's ``dags/`` folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from smartstack.paths import PROJECT_ROOT
from smartstack.settings import Settings
from smartstack.stack.airflow import airflow_environment, airflow_executable, migrate

AIRFLOW = airflow_executable(Settings())
AIRFLOW_PYTHON = AIRFLOW.parent / "python"
DAGS = PROJECT_ROOT / "dags"
DAILY = "smartstack_daily"


def require_airflow() -> None:
    """Skip without the Airflow environment, except in CI, where `make test` must have built it."""
    if AIRFLOW.exists():
        return
    message = f"no Airflow environment at {AIRFLOW.parent.parent}: run `make setup-airflow`"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class AirflowHome:
    settings: Settings  # the project's settings the DAG's tasks run with
    env: dict[str, str]  # Airflow's configuration for this home

    def run(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AIRFLOW), *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def migrated_database(root: Path) -> Path:
    """An Airflow metadata database migrated under ``root`` (``airflow db migrate``), with the
    DAG folder parsed into it once: Cosmos keeps its listing of the dbt project in an Airflow
    variable, so each copy of this database parses the DAGs without running ``dbt ls`` again
    (the listing is keyed by the project's files, which a test does not change)."""
    home = airflow_home_at(root, database=None)
    parsed = home.run("dags", "reserialize", timeout=300)
    assert parsed.returncode == 0, parsed.stderr[-3000:]
    return Path(home.env["AIRFLOW_HOME"]) / "airflow.db"


def airflow_home(root: Path, database: Path) -> AirflowHome:
    """A project home under ``root`` with a copy of a migrated Airflow ``database``. Nothing
    listens at the serving URL, so the reload task takes its 'serving not running' path."""
    return airflow_home_at(root, database)


def airflow_home_at(root: Path, database: Path | None) -> AirflowHome:
    require_airflow()
    settings = Settings(home=root / "home")
    serving = settings.serving.model_copy(update={"url": f"http://127.0.0.1:{free_port()}"})
    settings = settings.model_copy(update={"serving": serving})
    env = airflow_environment(settings, free_port())
    if database is None:
        migrate(AIRFLOW, env, root / "airflow-db-migrate.log")
    else:
        shutil.copyfile(database, Path(env["AIRFLOW_HOME"]) / "airflow.db")
    return AirflowHome(settings, env)


@dataclass(frozen=True)
class DagTestRun:
    output: str
    returncode: int
    run_id: str
    states: dict[str, str]  # task id -> final state

    @property
    def succeeded(self) -> bool:
        return "state=success, run_type=manual" in self.output


def dag_test(home: AirflowHome, conf: dict, timeout: float = 900) -> DagTestRun:
    """``airflow dags test smartstack_daily -c CONF`` and the final state of every task."""
    done = home.run("dags", "test", DAILY, "-c", json.dumps(conf), timeout=timeout)
    output = done.stdout + done.stderr
    found = re.search(r"run_id=(manual__[^,\s]+)", output)
    assert found, f"no run id in the output of `airflow dags test`:\n{output[-3000:]}"
    run_id = found.group(1)
    listed = home.run("tasks", "states-for-dag-run", DAILY, run_id, "-o", "json", timeout=120)
    assert listed.returncode == 0, listed.stderr[-3000:]
    rows = json.loads(listed.stdout[listed.stdout.index("[") :])
    return DagTestRun(output, done.returncode, run_id, {r["task_id"]: r["state"] for r in rows})


def xcoms(home: AirflowHome, run_id: str, task_id: str) -> dict[str, Any]:
    """The XComs a task instance of the daily DAG left, by key, read from the home's metadata
    database: ``return_value`` and one ``_link_<class name>`` per operator extra link."""
    database = Path(home.env["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT key, value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ?",
            (DAILY, run_id, task_id),
        ).fetchall()
    return {key: _json_value(value) for key, value in rows}


def _json_value(stored: str | bytes | None) -> Any:
    """An XCom value as stored (JSON), decoded; a JSON text inside a string is decoded too."""
    value = json.loads(stored) if stored is not None else None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
