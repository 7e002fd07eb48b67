"""Real ``bentoml serve`` processes over the session's built home (``built``, tests/conftest).

Each server runs on a private copy of that home (its online store, its MLflow registry with the
pipeline's champion, its ranking log, feedback table and explanation cache), as a subprocess on
a free port, killed at teardown. One SQLite server with an OpenAI-compatible endpoint serves
most tests; the streaming and the Redis tests start their own, because they need a broker or
another online store.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
import xgboost as xgb
from mlflow.tracking import MlflowClient
from pydantic import SecretStr

from smartstack.features.dbt import run_dbt
from smartstack.featurestore import store
from smartstack.paths import PROJECT_ROOT, WEB_DIST
from smartstack.settings import OnlineStore, Settings
from tests.conftest import SMARTSTACK, BuiltHome, free_port, project_environment
from tests.messaging.openai_server import OpenAICompatibleServer

MODEL = "offer-ranker"
# A customer who answered the quiz after the last feature build: unknown to every other view.
QUIZ_ONLY_CUSTOMER = "CUST-9000001"
QUIZ_ONLY_FAVOURITE = "travel"
# The data set's offers run from 2026-05-01 to 2026-06-30 (the snapshot).
REQUEST_TIME = "2026-06-29T12:00:00Z"
LLM_MODEL = "test-llm"
# After the data set's snapshot: no test but the catalogue's asks for a time it is valid.
NEW_OFFER_FROM = datetime(2026, 7, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Registry:
    """A server's MLflow registry, and a way to add models to it."""

    uri: str
    artifacts: Path  # explicit: MLflow's default is ./mlruns in whatever the cwd is

    def client(self) -> MlflowClient:
        return MlflowClient(self.uri, self.uri)

    def register(self, frame: pd.DataFrame, names: list[str], trees: int) -> str:
        """Train a small ranker on the training set and register it; returns its version."""
        model = xgb.XGBClassifier(n_estimators=trees, max_depth=3, n_jobs=1)
        model.fit(frame[names].astype(float), frame["redeemed"].astype(int))
        return self.register_model(model)

    def register_model(self, model: xgb.XGBClassifier) -> str:
        """Register a fitted model; returns its version."""
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
            info = mlflow.xgboost.log_model(model, name="model", registered_model_name=MODEL)
        return str(info.registered_model_version)

    def champion(self) -> str:
        return str(self.client().get_model_version_by_alias(MODEL, "champion").version)

    def set_champion(self, version: str) -> None:
        self.client().set_registered_model_alias(MODEL, "champion", version)


@dataclass(frozen=True)
class Dataset:
    """What the tests know of the built data set, read once."""

    built: BuiltHome
    training_frame: pd.DataFrame
    feature_names: list[str]
    customers: pd.DataFrame  # customer_id, card_product
    offers: pd.DataFrame  # raw offers

    @property
    def data_dir(self) -> Path:
        return self.built.data_dir


@pytest.fixture(scope="session")
def dataset(built: BuiltHome) -> Dataset:
    settings = built.settings
    raw = settings.raw_dir
    return Dataset(
        built=built,
        training_frame=store.training_set(settings),
        feature_names=store.model_feature_names(settings),
        customers=pd.read_parquet(raw / "customers", columns=["customer_id", "card_product"]),
        offers=pd.read_parquet(raw / "offers"),
    )


def configured(settings: Settings, **changes: object) -> Settings:
    """``settings`` with some of their sections' values changed: ``serving={...}`` and the like."""
    return settings.model_copy(
        update={
            name: getattr(settings, name).model_copy(update=values)
            for name, values in changes.items()
        }
    )


# What every test server runs with besides its home: a ranking log written within a second, a
# frequency cap low enough to test, and no load shedding (a busy test machine would otherwise
# turn a model ranking into a shed one now and then; test_overload_http.py turns it on).
TEST_SERVING = {"snapshot_flush_seconds": 0.5, "frequency_cap": 2, "shed_loop_lag_ms": 0}


class Server:
    """A ``bentoml serve`` subprocess of the ranking service on its own copy of the home, with
    exactly ``settings`` (handed over in its environment)."""

    def __init__(self, settings: Settings, log: Path, host: str = "127.0.0.1") -> None:
        """``host``: the address it listens on (``0.0.0.0``: callers on other addresses too);
        the tests call it on 127.0.0.1 either way."""
        self.settings = settings
        self.registry = Registry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
        self.env = settings.environment()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [
                str(PROJECT_ROOT / ".venv" / "bin" / "bentoml"),
                "serve",
                "serving.service:RankingService",
                "--host",
                host,
                "--port",
                str(self.port),
            ],
            cwd=PROJECT_ROOT,
            env=project_environment(
                # BentoML keeps Prometheus' multiprocess files under its home and clears them
                # when a server starts: each server gets its own, so metrics are its own.
                BENTOML_HOME=str(log.parent / "bentoml"),
                **self.env,
            ),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # A server-to-server caller: the tests of customers' own tokens set their own header.
        self.http = httpx.Client(
            base_url=self.url, timeout=10, headers=service_authorization(settings)
        )
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

    def reload(self) -> dict:
        response = self.http.post("/admin/reload", json={})
        assert response.status_code == 200, response.text
        return response.json()

    def metric(self, name: str, label: str = "") -> float:
        """The sum of ``/metrics``' samples of ``name`` whose labels contain ``label`` (all
        workers' series), 0 when there are none yet."""
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in self.http.get("/metrics").text.splitlines()
            if line.startswith(name) and label in line
        )

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


def register_responsive_champion(registry: Registry, dataset: Dataset) -> None:
    """A champion that must rank an offer higher when its category's recent spend rises or the
    customer names its category in the quiz (monotone constraints), so the tests check the
    real-time path and not what a model trained on a small data set happened to learn about one
    feature. The raw per-category recent spend columns are left out (a model may use any subset
    of the service), so recent spend reaches the score only through that constrained feature."""
    names = [n for n in dataset.feature_names if not n.startswith("recent_spend_")]
    # Feast's point-in-time join returns rows in no fixed order, and XGBoost's histograms sum
    # in row order: sorted, the same data always gives the same model.
    frame = dataset.training_frame.sort_values("impression_id", ignore_index=True)
    model = xgb.XGBClassifier(
        n_estimators=200,
        max_depth=3,
        n_jobs=1,
        monotone_constraints={"offer_category_recent_spend": 1, "quiz_matches_category": 1},
    )
    model.fit(frame[names].astype(float), frame["redeemed"])
    client = registry.client()
    experiment = client.create_experiment("responsive-champion", registry.artifacts.as_uri())
    mlflow.set_tracking_uri(registry.uri)
    mlflow.set_registry_uri(registry.uri)
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.xgboost.log_model(model, name="model", registered_model_name=MODEL)
    registry.set_champion(str(info.registered_model_version))


def redis_backed_server(redis_url: str, dataset: Dataset, root: Path) -> Server:
    """A server on a copy of the built home whose online store is Redis at ``redis_url``
    (applied and materialized there), without frequency caps."""
    copied = dataset.built.copy(root / "home")
    settings = configured(copied, serving={**TEST_SERVING, "frequency_cap": 0}).model_copy(
        update={"online_store": OnlineStore.redis, "redis_url": redis_url}
    )
    # A registry of its own: the copy's records the SQLite store's loads, not this store's.
    (settings.home / "feast" / "registry.db").unlink()
    store.apply(settings)
    store.materialize(settings)
    return Server(settings, root / "server.log")


def service_authorization(settings: Settings) -> dict[str, str]:
    """The ``Authorization`` header of a server-to-server caller."""
    token = settings.auth.service_token
    assert token is not None, "the test settings carry the local profile's service token"
    return {"Authorization": f"Bearer {token.get_secret_value()}"}


# When answer_the_quiz's answers arrive unless a test says otherwise: before the snapshot.
QUIZ_ANSWERED_AT = pd.Timestamp("2026-06-28", tz="UTC")


def answer_the_quiz(
    settings: Settings,
    customer: str,
    favourite: str,
    answered_at: pd.Timestamp = QUIZ_ANSWERED_AT,
) -> None:
    """A quiz answer written to the online store as it arrives, before any feature build knows
    the customer (Feast's write path, the one the stream processor uses)."""
    answer = pd.DataFrame(
        {
            "customer_id": [customer],
            "event_timestamp": [answered_at],
            "stated_favourite_category": [favourite],
            "stated_prefers_rewards": [1],
            "stated_planning_travel": [0],
        }
    )
    store.get_store(settings).write_to_online_store("customer_quiz", answer)


def publish_offer(settings: Settings, offer_id: str, valid_from: datetime) -> datetime:
    """A new offer in the raw table, the catalogue and offer marts rebuilt by dbt, Feast's
    sources pointed at them and the online store loaded past the offer's start: what a pipeline
    run does, and in processes of its own, as the pipeline's are (a service polling in this
    process shares its offline-store connection with nothing but itself)."""
    offers = pd.read_parquet(settings.raw_dir / "offers")
    new = offers.iloc[[0]].assign(
        offer_id=offer_id,
        headline="5x points on travel",
        merchant_category="travel",
        offer_type="points",
        value=5.0,
        min_spend=0.0,
        valid_from=pd.Timestamp(valid_from),
        valid_to=pd.Timestamp(valid_from + timedelta(days=30)),
        eligible_card_products="Blue Cash,Green,Gold,Platinum",
    )
    new.to_parquet(settings.raw_dir / "offers" / "part-new.parquet", index=False)
    # The staging view too: the copied warehouse's views still read the original raw tables.
    models = ["stg_smartstack__offers", "offer_catalog", "offer_features"]
    assert run_dbt(["run", "--select", *models], settings) == 0
    end = store.snapshot_time(settings) + timedelta(days=40)
    environment = project_environment(SMARTSTACK_HOME=str(settings.home))
    for command in (["apply"], ["materialize", "--end", f"{end:%Y-%m-%dT%H:%M:%S}"]):
        done = subprocess.run(
            [SMARTSTACK, "feast", *command], env=environment, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return end


@pytest.fixture(scope="session")
def llm() -> Iterator[OpenAICompatibleServer]:
    """An OpenAI-compatible endpoint (a real HTTP server in this process) for the service."""
    server = OpenAICompatibleServer()
    server.start()
    yield server
    server.stop()


def require_web_build() -> Path:
    """The built web app, built now if a source changed (``make web``, as ``make test`` does
    first): skipped where npm is missing, a failure in CI."""
    if shutil.which("npm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("npm is not installed in CI: the web app cannot be built")
        pytest.skip("npm is not installed: the web app cannot be built")
    done = subprocess.run(["make", "-s", "web"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return WEB_DIST


@pytest.fixture(scope="session")
def web_build() -> Path:
    return require_web_build()


@pytest.fixture(scope="session")
def sqlite_server(
    built: BuiltHome, llm: OpenAICompatibleServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The main server: SQLite online store, the pipeline's champion, an LLM configured for
    ``/explain``, and a registry poll slow enough that only ``/admin/reload`` swaps models."""
    root = tmp_path_factory.mktemp("serving-sqlite")
    settings = configured(
        built.copy(root / "home"),
        serving={**TEST_SERVING, "model_poll_seconds": 3600, "explain_deadline_s": 1},
        llm={"base_url": llm.base_url, "model": LLM_MODEL, "api_key": SecretStr("sk-test")},
    )
    answer_the_quiz(settings, QUIZ_ONLY_CUSTOMER, QUIZ_ONLY_FAVOURITE)
    if shutil.which("npm") is not None:
        require_web_build()  # the server serves the app it finds when it starts
    server = Server(settings, root / "server.log")
    yield server
    server.stop()
