"""Airflow as the local stack runs it: its configuration, and a small client of its REST API.

Airflow lives in ``.venv-airflow`` with its metadata in SQLite under ``<home>/airflow`` and the
repository's ``dags/`` as DAG folder. The simple auth manager runs in all-admins mode: the UI
and the API on this machine need no login, as in ``airflow standalone``. The API server, the
scheduler and the DAG processor are separate processes that must share the JWT secret the
task runners authenticate with, so it is generated once per home and kept there.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from smartstack.paths import PROJECT_ROOT
from smartstack.settings import Settings

DAGS_FOLDER = PROJECT_ROOT / "dags"
PLUGINS_FOLDER = PROJECT_ROOT / "airflow_plugins"  # the monitoring tasks' links to their reports
DAILY_DAG = "smartstack_daily"
FINISHED = {"success", "failed"}


def airflow_executable(settings: Settings) -> Path:
    return settings.airflow_venv / "bin" / "airflow"


def airflow_home(settings: Settings) -> Path:
    return settings.home / "airflow"


def airflow_environment(settings: Settings, port: int) -> dict[str, str]:
    """The variables every Airflow process of the local stack runs with.

    The project's settings go along whole (:meth:`Settings.environment`, every path absolute),
    so the tasks' ``smartstack`` commands run with exactly the settings of the stack, whatever
    their working directory.
    """
    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(home / "jwt_secret"),
        "AIRFLOW__API__SECRET_KEY": _secret(home / "api_secret_key"),
        # New DAG files and changes show up within seconds instead of minutes.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
        # No usage data leaves this machine (Airflow, Cosmos).
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "SCARF_NO_ANALYTICS": "true",
        "DO_NOT_TRACK": "true",
        **settings.environment(),
    }


def migrate(airflow: Path, env: Mapping[str, str], log: Path) -> None:
    """Create or upgrade the metadata database (``airflow db migrate``); idempotent."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        done = subprocess.run(
            [str(airflow), "db", "migrate"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"airflow db migrate failed (see {log}):\n{tail}")


def _secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass(frozen=True)
class TaskState:
    task_id: str
    state: str | None
    seconds: float | None
    try_number: int


class AirflowApi:
    """The few calls of Airflow's public REST API (v2) the run command needs."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=f"{self.base_url}/api/v2", timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def wait_for_dag(
        self, dag_id: str, timeout: float, on_wait: Callable[[float], None] | None = None
    ) -> None:
        """Wait until the DAG processor has parsed ``dag_id``; fail on its import error."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.http.get(f"/dags/{dag_id}").status_code == 200:
                return
            errors = self.import_errors()
            if errors:
                raise RuntimeError("the DAG files do not import:\n" + "\n".join(errors))
            if on_wait:
                on_wait(time.monotonic() - started)
            time.sleep(1)
        raise TimeoutError(f"Airflow did not load the DAG {dag_id} within {timeout:.0f}s")

    def import_errors(self) -> list[str]:
        response = self.http.get("/importErrors")
        response.raise_for_status()
        return [
            f"{e['filename']}: {e['stack_trace'].strip().splitlines()[-1]}"
            for e in response.json()["import_errors"]
        ]

    def unpause(self, dag_id: str) -> None:
        self.http.patch(f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        """Start a run now with ``conf`` as its params; returns the run id."""
        response = self.http.post(
            f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf}
        )
        response.raise_for_status()
        return response.json()["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        response = self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}")
        response.raise_for_status()
        return response.json()["state"]

    def task_states(self, dag_id: str, run_id: str) -> list[TaskState]:
        response = self.http.get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000}
        )
        response.raise_for_status()
        return [
            TaskState(t["task_id"], t["state"], t.get("duration"), t.get("try_number", 0))
            for t in response.json()["task_instances"]
        ]

    def task_url(self, dag_id: str, run_id: str, task_id: str) -> str:
        return f"{self.base_url}/dags/{dag_id}/runs/{run_id}/tasks/{task_id}"
