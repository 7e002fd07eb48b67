"""The ranker's fallbacks and the serving state's, on real components in this process.

Shown here:

- a champion whose scoring raises hands the ranking to SmartScore (tier ``smartscore``, the
  rules' scores, one ``model_error`` counted), and SmartScore raising too hands it to
  popularity (tier ``popularity``, one ``rules_error`` counted); the same request with the
  store's whole matrix is ranked by the model;
- a registry that stops answering during a poll (a real ``mlflow server`` subprocess, paused
  then killed) keeps the loaded model, and rankings stay on tier ``model``; once the registry
  answers again the poll follows the alias as before;
- a new champion whose artifact is corrupt keeps the old version serving, and the failure is
  logged with the version that could not be loaded.

Everything is real but the failures' cause: the MLflow registry of a copy of the session's
built home, the pipeline's champion loaded from it, the feature store's online reads (SQLite),
the offer catalogue, SmartScore. The model is made to raise by giving it what a feature service
that lost columns would give it (a matrix narrower than its inputs), not by replacing a method.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from smartstack.datasets import active, feature_service_name
from smartstack.featurestore import store
from smartstack.featurestore.guarded import GuardedReader, ReadFeatures
from smartstack.featurestore.online import OnlineFeatureReader, OnlineFeatures
from smartstack.privacy.purposes import CONSENT_VIEW
from smartstack.ranking import smartscore
from smartstack.serving.caps import FrequencyCaps, LastServed
from smartstack.serving.catalog import FeastCatalogue
from smartstack.serving.metrics import ERRORS
from smartstack.serving.model import RegistryAlias
from smartstack.serving.ranker import Ranker
from smartstack.serving.schemas import RankRequest, RankResponse, Tier
from smartstack.serving.state import ServingStateHolder
from smartstack.settings import Settings
from tests.conftest import BuiltHome, free_port, project_environment
from tests.serving.conftest import MODEL, REQUEST_TIME, Dataset, Registry

MLFLOW = str(Path(sys.executable).parent / "mlflow")


@pytest.fixture
def home(built: BuiltHome, tmp_path: Path) -> Settings:
    return built.copy(tmp_path / "home")


def holder(settings: Settings, names: list[str], tracking_uri: str) -> ServingStateHolder:
    """The serving state as the service builds it (not started: tests call ``refresh``)."""
    return ServingStateHolder(
        RegistryAlias(tracking_uri, MODEL, "champion", names),
        FeastCatalogue(store.get_store(settings), active(settings)),
        poll_seconds=3600,
    )


def online_reader(settings: Settings) -> OnlineFeatureReader:
    return OnlineFeatureReader(
        store.get_store(settings),
        feature_service_name(settings),
        timeout_s=settings.serving.feature_timeout_ms / 1000,
        extra_customer_views=(CONSENT_VIEW,),
    )


def ranker(state: ServingStateHolder, read: ReadFeatures) -> Ranker:
    """The service's ranker on ``state``: SmartScore as the rules, no caps, no ranking log."""
    return Ranker(
        read_features=GuardedReader(read),
        state=state,
        rules=smartscore.smartscore,
        rules_version=smartscore.VERSION,
        favourite=None,
        caps=FrequencyCaps(0, 3600, 100),
        last_served=LastServed(100),
        snapshots=None,
        reasons_per_offer=3,
    )


def only(columns: Sequence[str], read: ReadFeatures) -> ReadFeatures:
    """The store's read, its matrix cut down to ``columns``: what a feature service that lost
    the others would return."""

    def narrowed(customer: str, offers: Sequence[str], at: datetime) -> OnlineFeatures:
        features = read(customer, offers, at)
        keep = [features.names.index(name) for name in columns]
        return replace(features, names=list(columns), matrix=features.matrix[:, keep])

    return narrowed


def request(customer: str) -> RankRequest:
    body = {
        "customer_id": customer,
        "k": 10,
        "context": {"channel": "app", "timestamp": REQUEST_TIME},
    }
    return RankRequest.model_validate_json(json.dumps(body))


def errors(kind: str) -> float:
    return ERRORS.labels(kind=kind)._value.get()


def ids(response: RankResponse) -> list[str]:
    return [o.offer_id for o in response.offers]


def scores(response: RankResponse) -> list[float]:
    return [o.score for o in response.offers]


def test_a_model_that_raises_hands_the_ranking_to_smartscore(
    built: BuiltHome, dataset: Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    settings = built.settings  # only read
    state = holder(settings, dataset.feature_names, settings.mlflow_tracking_uri)
    champion = state.current.model
    assert champion is not None, "the pipeline registered a champion"
    reader = online_reader(settings)
    customer = str(dataset.customers.customer_id.iloc[5])

    whole = ranker(state, reader.read).rank(request(customer))
    assert whole.tier is Tier.model and whole.model.version == champion.version

    # SmartScore's inputs only: the champion reads columns past the matrix's last.
    assert max(champion.columns) >= len(smartscore.REQUIRED)
    narrowed = only(smartscore.REQUIRED, reader.read)
    before = errors("model_error")
    caplog.set_level(logging.ERROR, logger="smartstack.serving.ranker")
    response = ranker(state, narrowed).rank(request(customer))

    assert response.tier is Tier.smartscore
    assert (response.model.name, response.model.version) == ("smartscore", smartscore.VERSION)
    assert errors("model_error") == before + 1
    assert f"model {MODEL} v{champion.version} failed; using SmartScore" in caplog.text
    # The rules' own scores of the offers shown, best first.
    features = narrowed(customer, ids(response), datetime.fromisoformat(REQUEST_TIME))
    expected = smartscore.smartscore(features.matrix, features.names)
    assert scores(response) == pytest.approx(expected.tolist())
    assert scores(response) == sorted(scores(response), reverse=True)
    # Reason codes are the model's: the rules' ranking has none, the model's had some.
    assert all(o.reasons == [] for o in response.offers)
    assert any(o.reasons for o in whole.offers)


def test_smartscore_raising_too_hands_the_ranking_to_popularity(
    built: BuiltHome, dataset: Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    settings = built.settings
    state = holder(settings, dataset.feature_names, settings.mlflow_tracking_uri)
    assert state.current.model is not None
    reader = online_reader(settings)
    customer = str(dataset.customers.customer_id.iloc[6])
    ruled = ranker(state, only(smartscore.REQUIRED, reader.read)).rank(request(customer))
    assert ruled.tier is Tier.smartscore

    # One of SmartScore's inputs missing too: neither the model nor the rules can score.
    missing = only(smartscore.REQUIRED[1:], reader.read)
    model_errors, rules_errors = errors("model_error"), errors("rules_error")
    caplog.set_level(logging.ERROR, logger="smartstack.serving.ranker")
    response = ranker(state, missing).rank(request(customer))

    assert response.tier is Tier.popularity
    assert (response.model.name, response.model.version) == ("popularity", None)
    assert errors("model_error") == model_errors + 1
    assert errors("rules_error") == rules_errors + 1
    assert "SmartScore failed; using popularity" in caplog.text
    catalog = state.current.catalog
    # Most redeemed first, among the offers the customer's card may receive (as the rules had).
    assert scores(response) == [catalog[o].popularity for o in ids(response)]
    assert scores(response) == sorted(scores(response), reverse=True)
    cards = dataset.customers.set_index("customer_id").card_product
    eligible = catalog.eligible(catalog.ids, cards[customer])
    valid = catalog.valid_at(eligible, datetime.fromisoformat(REQUEST_TIME))
    assert ids(response) == catalog.popular(valid)[:10]


class MlflowServer:
    """``mlflow server`` over a registry's SQLite store, as a subprocess on a free port."""

    def __init__(self, registry: Registry, log: Path) -> None:
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [
                MLFLOW, "server", "--backend-store-uri", registry.uri,
                "--default-artifact-root", registry.artifacts.as_uri(),
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            ],
            env=project_environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            assert self.process.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.uri}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.3)

    def signal(self, sig: signal.Signals) -> None:
        os.killpg(self.process.pid, sig)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
            self.process.wait()
        self._log.close()


@pytest.fixture
def mlflow_server(home: Settings, tmp_path: Path) -> Iterator[MlflowServer]:
    server = MlflowServer(
        Registry(home.mlflow_tracking_uri, home.mlflow_artifact_root), tmp_path / "mlflow.log"
    )
    yield server
    server.stop()


def test_a_registry_that_stops_answering_during_a_poll_keeps_the_model_serving(
    home: Settings,
    dataset: Dataset,
    mlflow_server: MlflowServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    state = holder(home, dataset.feature_names, mlflow_server.uri)
    loaded = state.current.model
    assert loaded is not None, "the champion loaded through the registry server"
    rank = ranker(state, online_reader(home).read)
    customer = str(dataset.customers.customer_id.iloc[7])
    assert rank.rank(request(customer)).model.version == loaded.version

    caplog.set_level(logging.WARNING, logger="smartstack.serving.state")
    # A new champion the service would follow, had it been able to ask.
    registry = Registry(home.mlflow_tracking_uri, home.mlflow_artifact_root)
    newer = registry.register(dataset.training_frame, dataset.feature_names, trees=4)
    registry.set_champion(newer)

    mlflow_server.signal(signal.SIGSTOP)  # hangs: the poll's request times out
    try:
        hung = state.refresh()
    finally:
        mlflow_server.signal(signal.SIGCONT)
    mlflow_server.stop()  # gone: the poll's request is refused
    refused = state.refresh()

    for refreshed in (hung, refused):
        assert (refreshed.version, refreshed.model_changed) == (loaded.version, False)
    assert state.current.model is loaded
    kept = [r for r in caplog.records if "keeping the current model" in r.getMessage()]
    assert len(kept) == 2, caplog.text
    served = rank.rank(request(customer))
    assert served.tier is Tier.model and served.model.version == loaded.version

    # The registry back (its own store, unchanged): the next poll follows the alias.
    again = MlflowServer(registry, home.home / "mlflow-again.log")
    try:
        state._champion = RegistryAlias(again.uri, MODEL, "champion", dataset.feature_names)
        assert state.refresh().version == newer
        assert rank.rank(request(customer)).model.version == newer
    finally:
        again.stop()


def test_a_champion_that_fails_to_load_leaves_the_old_version_serving(
    home: Settings, dataset: Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    state = holder(home, dataset.feature_names, home.mlflow_tracking_uri)
    loaded = state.current.model
    assert loaded is not None
    rank = ranker(state, online_reader(home).read)
    customer = str(dataset.customers.customer_id.iloc[9])

    registry = Registry(home.mlflow_tracking_uri, home.mlflow_artifact_root)
    broken = registry.register(dataset.training_frame, dataset.feature_names, trees=4)
    folder = Path(
        registry.client().get_model_version_download_uri(MODEL, broken).removeprefix("file://")
    )
    saved = [p for p in folder.rglob("*") if p.is_file() and p.suffix in {".ubj", ".json", ".xgb"}]
    saved = [p for p in saved if p.name.startswith("model")]
    assert saved, sorted(p.name for p in folder.rglob("*"))
    for path in saved:
        path.write_bytes(b"not a booster")  # corrupt, not missing
    registry.set_champion(broken)

    caplog.set_level(logging.ERROR, logger="smartstack.serving.state")
    refreshed = state.refresh()
    assert (refreshed.version, refreshed.model_changed) == (loaded.version, False)
    assert state.current.model is loaded
    assert f"could not load {MODEL} version {broken}; keeping the current one" in caplog.text
    served = rank.rank(request(customer))
    assert served.tier is Tier.model and served.model.version == loaded.version

    # A champion that loads after it: served at the next poll.
    fixed = registry.register(dataset.training_frame, dataset.feature_names, trees=4)
    registry.set_champion(fixed)
    assert state.refresh().version == fixed
    assert rank.rank(request(customer)).model.version == fixed
