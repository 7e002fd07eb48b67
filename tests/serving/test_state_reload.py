"""The serving state follows the registries by itself: the poll picks up a new champion and a
new materialization of the catalogue, and keeps what it serves when the registry cannot be
asked or a new version cannot be loaded. In process, on a copy of the built home: the real
MLflow registry, the real feature store (offline pull for the catalogue, online reads)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from smartstack.datasets import active
from smartstack.featurestore import store
from smartstack.serving.catalog import FeastCatalogue
from smartstack.serving.model import RegistryAlias
from smartstack.serving.state import ServingStateHolder
from smartstack.settings import Settings
from tests.conftest import BuiltHome
from tests.serving.conftest import (
    MODEL,
    NEW_OFFER_FROM,
    Dataset,
    Registry,
    free_port,
    publish_offer,
)

POLL_SECONDS = 0.2


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached within the poll"
        time.sleep(0.05)


@pytest.fixture
def home(built: BuiltHome, tmp_path) -> Settings:  # noqa: ANN001
    return built.copy(tmp_path / "home")


def holder(settings: Settings, names: list[str], tracking_uri: str | None = None):  # noqa: ANN201
    feature_store = store.get_store(settings)
    return ServingStateHolder(
        RegistryAlias(tracking_uri or settings.mlflow_tracking_uri, MODEL, "champion", names),
        FeastCatalogue(feature_store, active(settings)),
        POLL_SECONDS,
    )


@pytest.fixture
def polling(home: Settings, dataset: Dataset) -> Iterator[ServingStateHolder]:
    state = holder(home, dataset.feature_names)
    state.start()
    yield state
    state.stop()


def test_the_poll_swaps_in_a_new_champion(
    polling: ServingStateHolder, home: Settings, dataset: Dataset
) -> None:
    registry = Registry(home.mlflow_tracking_uri, home.mlflow_artifact_root)
    first = polling.current.model.version
    version = registry.register(dataset.training_frame, dataset.feature_names, trees=4)
    registry.set_champion(version)
    wait_until(lambda: polling.current.model.version == version)
    assert version != first


def test_the_poll_loads_a_newly_materialized_catalogue(
    polling: ServingStateHolder, home: Settings
) -> None:
    before = polling.current
    offers = before.catalog.ids
    assert "OFR-NEW-2" not in offers
    end = publish_offer(home, "OFR-NEW-2", NEW_OFFER_FROM)
    wait_until(lambda: polling.current.catalogue_as_of == end)
    after = polling.current
    assert sorted(after.catalog.ids) == sorted([*offers, "OFR-NEW-2"])
    assert after.catalog["OFR-NEW-2"].valid_from == NEW_OFFER_FROM
    assert after.model is before.model  # the model did not change, so it was not reloaded


def test_a_registry_that_cannot_be_asked_keeps_the_model(
    home: Settings, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = holder(home, dataset.feature_names)
    loaded = state.current.model
    assert loaded is not None
    # The same holder, now asking a registry server that is not there (no retries: at once).
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    state._champion = RegistryAlias(
        f"http://127.0.0.1:{free_port()}", MODEL, "champion", dataset.feature_names
    )
    refreshed = state.refresh()
    assert state.current.model is loaded
    assert (refreshed.version, refreshed.model_changed) == (loaded.version, False)


def test_a_champion_that_fails_to_load_keeps_the_model(home: Settings, dataset: Dataset) -> None:
    state = holder(home, dataset.feature_names)
    loaded = state.current.model
    registry = Registry(home.mlflow_tracking_uri, home.mlflow_artifact_root)
    version = registry.register(dataset.training_frame, dataset.feature_names, trees=4)
    source = registry.client().get_model_version(MODEL, version).source
    artifacts = registry.client().get_model_version_download_uri(MODEL, version)
    shutil.rmtree(artifacts.removeprefix("file://"))
    registry.set_champion(version)
    refreshed = state.refresh()
    assert state.current.model is loaded and refreshed.version == loaded.version, source
    # The alias removed: that is a withdrawal, not a failure: the rules rank.
    registry.client().delete_registered_model_alias(MODEL, "champion")
    assert state.refresh().version is None and state.current.model is None


def test_the_catalogue_is_only_read_again_after_a_materialization(
    home: Settings, dataset: Dataset
) -> None:
    state = holder(home, dataset.feature_names)
    catalog = state.current.catalog
    assert state.refresh().catalogue_changed is False
    assert state.current.catalog is catalog
    store.materialize(home, end=store.snapshot_time(home) + timedelta(seconds=2))
    assert state.refresh().catalogue_changed is True
