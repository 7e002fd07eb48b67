"""A small data set, a model registry and real ``bentoml serve`` processes for serving tests.

Everything is built once per session: raw data and dbt marts for a few hundred customers, a
SQLite online store, an MLflow registry (SQLite) with a tiny XGBoost ``offer-ranker`` as
``champion``. Each server runs as a subprocess on a free port and is killed at teardown.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
import redis as redis_client
import xgboost as xgb
from mlflow.tracking import MlflowClient

from smartstack.data.generator import GeneratorConfig, generate
from smartstack.features.dbt import run_dbt
from smartstack.featurestore import store
from smartstack.paths import PROJECT_ROOT
from smartstack.settings import OnlineStore, Settings

CUSTOMERS = 600
MODEL = "offer-ranker"
# A customer who answered the quiz after the last feature build: unknown to the online store.
QUIZ_ONLY_CUSTOMER = "CUST-9000001"
QUIZ_ONLY_FAVOURITE = "travel"
# The data set's offers run from 2026-05-01 to 2026-06-30 (the snapshot).
REQUEST_TIME = "2026-06-29T12:00:00Z"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Registry:
    uri: str
    artifacts: Path  # explicit: MLflow's default is ./mlruns in whatever the cwd is

    def client(self) -> MlflowClient:
        return MlflowClient(self.uri, self.uri)

    def register(self, frame: pd.DataFrame, names: list[str], trees: int) -> str:
        """Train a small ranker on the training set and register it; returns its version."""
        model = xgb.XGBClassifier(n_estimators=trees, max_depth=3, n_jobs=1)
        model.fit(frame[names].astype(float), frame["redeemed"].astype(int))
        client = self.client()
        experiment = client.get_experiment_by_name("serving-tests")
        experiment_id = (
            experiment.experiment_id
            if experiment
            else client.create_experiment("serving-tests", self.artifacts.as_uri())
        )
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        with mlflow.start_run(experiment_id=experiment_id):
            mlflow.xgboost.log_model(model, name="model", registered_model_name=MODEL)
        versions = self.client().search_model_versions(f"name='{MODEL}'")
        return str(max(int(v.version) for v in versions))

    def set_champion(self, version: str) -> None:
        self.client().set_registered_model_alias(MODEL, "champion", version)


@dataclass(frozen=True)
class Dataset:
    data_dir: Path
    registry: Registry
    training_frame: pd.DataFrame
    feature_names: list[str]
    customers: pd.DataFrame  # customer_id, card_product
    offers: pd.DataFrame  # raw offers


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    data = tmp_path_factory.mktemp("serving-data")
    generate(GeneratorConfig(customers=CUSTOMERS, seed=5), data, workers=1)
    settings = Settings(home=tmp_path_factory.mktemp("serving-dbt"), data_dir=data)
    assert run_dbt(["run"], settings) == 0
    # After the dbt run: the answer reaches the raw table but no feature mart.
    pd.DataFrame(
        {
            "response_id": [10**9],
            "customer_id": [QUIZ_ONLY_CUSTOMER],
            "answered_at": [pd.Timestamp("2026-06-28", tz="UTC")],
            "favourite_category": [QUIZ_ONLY_FAVOURITE],
            "reward_preference": ["rewards"],
            "planning_travel": [True],
        }
    ).to_parquet(data / "raw" / "quiz_responses" / "part-late.parquet")

    home = tmp_path_factory.mktemp("serving-train")
    train_settings = Settings(home=home, data_dir=data)
    store.apply(train_settings)
    frame = store.training_set(train_settings)
    names = store.model_feature_names(train_settings)
    mlflow_dir = tmp_path_factory.mktemp("mlflow")
    registry = Registry(f"sqlite:///{mlflow_dir / 'mlflow.db'}", mlflow_dir / "artifacts")
    registry.set_champion(registry.register(frame, names, trees=20))
    return Dataset(
        data_dir=data,
        registry=registry,
        training_frame=frame,
        feature_names=names,
        customers=pd.read_parquet(
            data / "raw" / "customers", columns=["customer_id", "card_product"]
        ),
        offers=pd.read_parquet(data / "raw" / "offers"),
    )


def online_store(home: Path, dataset: Dataset, **settings: str) -> dict[str, str]:
    """Apply and materialize into a fresh online store; returns the server's environment."""
    env = {
        "SMARTSTACK_HOME": str(home),
        "SMARTSTACK_DATA_DIR": str(dataset.data_dir),
        "MLFLOW_TRACKING_URI": dataset.registry.uri,
        **settings,
    }
    config = Settings(
        home=home,
        data_dir=dataset.data_dir,
        online_store=OnlineStore(settings.get("SMARTSTACK_ONLINE_STORE", "sqlite")),
        redis_url=settings.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    store.apply(config)
    store.materialize(config)
    return env


class Server:
    """A ``bentoml serve`` subprocess of the ranking service."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w")
        full_env = {
            **os.environ,
            # BentoML keeps Prometheus' multiprocess files under its home and clears them when
            # a server starts: each server gets its own, so metrics are its own.
            "BENTOML_HOME": str(log.parent / "bentoml"),
            "SMARTSTACK_SERVING_MODEL_POLL_SECONDS": "0.5",
            "SMARTSTACK_SERVING_SNAPSHOT_FLUSH_SECONDS": "0.5",
            "SMARTSTACK_SERVING_FREQUENCY_CAP": "2",
            **env,
        }
        self.process = subprocess.Popen(
            [
                str(PROJECT_ROOT / ".venv" / "bin" / "bentoml"),
                "serve",
                "serving.service:RankingService",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=PROJECT_ROOT,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.http = httpx.Client(base_url=self.url, timeout=10)
        self._wait_ready(log)

    def _wait_ready(self, log: Path, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bentoml serve exited:\n{log.read_text()[-3000:]}")
            try:
                if self.http.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"service not ready after {timeout}s:\n{log.read_text()[-3000:]}")

    def rank(self, customer_id: str, **body: object) -> httpx.Response:
        payload = {
            "customer_id": customer_id,
            "context": {"channel": "app", "timestamp": REQUEST_TIME},
        }
        return self.http.post("/rank", json={**payload, **body})

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="session")
def sqlite_server(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("serving-sqlite")
    server = Server(online_store(home, dataset), home / "server.log")
    yield server
    server.stop()


@dataclass(frozen=True)
class RedisProcess:
    """A private redis-server: tests may pause (SIGSTOP) or kill it without touching the
    machine's shared Redis."""

    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed in CI")
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path_factory.mktemp("redis"),
        stdout=subprocess.DEVNULL,
    )
    client = redis_client.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis_client.ConnectionError:
            time.sleep(0.05)
    client.close()
    yield RedisProcess(process, port)
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait()
