"""The services of the local stack, as one declarative list.

``smartstack up`` starts them in this order, waits for each to answer, runs the daily DAG, and
stops them in reverse order on Ctrl-C. Adding a component (a broker, a stream processor) means
adding one :class:`~smartstack.stack.processes.ManagedService` here: its command, its port and
the path that answers when it is ready. A service with ``needs`` (a file the pipeline builds)
starts with the others when that file exists, else as soon as the pipeline has succeeded.

Services that can resume where they were have a restart policy (:data:`RESTART`): the stream
processor above all, which exits on purpose when the online store stays unreachable for 20 s and
resumes from its last commit. The Airflow processes have none: they share one SQLite database
and the run in progress, so one that dies fails the stack loudly rather than being papered over.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from smartstack.interpreter import OPTIMIZED
from smartstack.paths import PROJECT_ROOT
from smartstack.settings import Settings
from smartstack.stack.airflow import airflow_environment, airflow_executable
from smartstack.stack.processes import ManagedService, RestartPolicy

# Up to 5 restarts within 10 minutes, 1 s before the first, doubling up to 30 s: a dependency
# down for a few minutes (each processor attempt already waits 20 s for the store) is ridden
# out, a service that cannot stay up fails the stack with its log within minutes.
RESTART = RestartPolicy(
    max_restarts=5, window_seconds=600.0, backoff_seconds=1.0, max_backoff_seconds=30.0
)


@dataclass(frozen=True)
class Ports:
    airflow: int = 8080
    mlflow: int = 5000
    serving: int = 3000
    kafka: int = 9092
    stream_metrics: int = 9108  # the stream processor's Prometheus metrics
    dashboard: int = 8001  # the monitoring dashboard (Evidently UI)


def _venv_bin(name: str) -> str:
    """An executable of the project environment (the one running this code)."""
    return str(Path(sys.executable).parent / name)


def stack_settings(settings: Settings, ports: Ports) -> Settings:
    """The settings every process of the local stack shares: the ranking service on its port,
    and the stack's own broker (feedback goes through Kafka to the stream processor)."""
    serving = settings.serving.model_copy(update={"url": f"http://127.0.0.1:{ports.serving}"})
    return settings.model_copy(
        update={"serving": serving, "kafka_bootstrap_servers": f"127.0.0.1:{ports.kafka}"}
    )


def local_services(settings: Settings, ports: Ports) -> list[ManagedService]:
    """Every long-running process of the embedded stack, in start order; ``settings`` are
    the :func:`stack_settings`, handed to each process whole in its environment."""
    from smartstack.featurestore.config import registry_path

    airflow = str(airflow_executable(settings))
    registry = registry_path(settings)
    # The drift task's "MLflow run" button opens the stack's MLflow UI.
    airflow_env = {
        **airflow_environment(settings, ports.airflow),
        "SMARTSTACK_MLFLOW_UI_URL": f"http://localhost:{ports.mlflow}",
    }
    project_env = {**settings.environment(), **OPTIMIZED}  # smartstack.interpreter
    # The processor and the ranking service read the Feast registry when they start.
    needs_registry = None if registry.startswith("postgresql") else Path(registry)
    return [
        ManagedService(
            name="mlflow",
            command=[
                _venv_bin("mlflow"),
                "server",
                "--backend-store-uri",
                str(settings.mlflow_tracking_uri),
                "--default-artifact-root",
                str(settings.mlflow_artifact_root),
                "--host",
                "127.0.0.1",
                "--port",
                str(ports.mlflow),
                "--workers",
                "1",
            ],  # fmt: skip
            port=ports.mlflow,
            ready_path="/health",
            url=f"http://localhost:{ports.mlflow}",
            # The server's background job runner (Huey workers) serves nothing the stack uses.
            env={**project_env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            restart=RESTART,  # stateless over its SQLite store and artifact directory
        ),
        ManagedService(
            name="kafka",
            command=[_venv_bin("smartstack"), "events", "broker", "--port", str(ports.kafka)],
            port=ports.kafka,
            env=project_env,
            # In-memory: a restart forgets the topics, which the processor and the feedback
            # producer cope with; losing the whole stack instead would lose them too.
            restart=RESTART,
        ),
        ManagedService(
            name="airflow-api-server",
            command=[airflow, "api-server", "--port", str(ports.airflow), "--workers", "1"],
            port=ports.airflow,
            ready_path="/api/v2/monitor/health",
            url=f"http://localhost:{ports.airflow}",
            env=airflow_env,
        ),
        ManagedService(name="airflow-scheduler", command=[airflow, "scheduler"], env=airflow_env),
        ManagedService(
            name="airflow-dag-processor", command=[airflow, "dag-processor"], env=airflow_env
        ),
        ManagedService(
            name="stream-processor",
            command=[
                _venv_bin("smartstack"),
                "events",
                "process",
                "--metrics-port",
                str(ports.stream_metrics),
            ],  # fmt: skip
            port=ports.stream_metrics,
            ready_path="/metrics",
            url=f"http://localhost:{ports.stream_metrics}/metrics",
            env=project_env,
            needs=needs_registry,
            # Exits when the online store is unreachable for 20 s; resumes from its last commit.
            restart=RESTART,
        ),
        ManagedService(
            name="bentoml",
            command=[
                _venv_bin("bentoml"),
                "serve",
                "serving.service:RankingService",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports.serving),
            ],  # fmt: skip
            port=ports.serving,
            ready_path="/readyz",
            url=f"http://localhost:{ports.serving}",
            env={
                **project_env,
                "BENTOML_HOME": str(settings.home / "bentoml"),
                "BENTOML_DO_NOT_TRACK": "true",
            },
            cwd=PROJECT_ROOT,
            needs=needs_registry,
            restart=RESTART,  # loads the champion and the registry afresh when it starts
        ),
        # The monitoring dashboard over the workspace the daily DAG's monitoring tasks fill
        # (smartstack.monitoring.dashboard); it shows their projects as they appear.
        ManagedService(
            name="dashboard",
            command=[
                _venv_bin("evidently"),
                "ui",
                "--workspace",
                str(settings.monitoring_dir / "workspace"),
                "--host",
                "127.0.0.1",
                "--port",
                str(ports.dashboard),
            ],  # fmt: skip
            port=ports.dashboard,
            ready_path="/api/version",
            url=f"http://localhost:{ports.dashboard}",
            env={**project_env, "DO_NOT_TRACK": "1"},
            restart=RESTART,  # reads the workspace the monitoring tasks fill, nothing more
        ),
    ]
