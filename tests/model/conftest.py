"""One small data set built through dbt and Feast per session, trained on by every model test.

Each test that touches the registry gets its own MLflow store (SQLite in a temporary folder),
so promotion histories never leak between tests.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from smartstack.data.generator import GeneratorConfig, generate
from smartstack.features.dbt import run_dbt
from smartstack.featurestore import store
from smartstack.settings import Settings
from smartstack.training import dataset
from smartstack.training.config import TrainingConfig, load_config
from smartstack.training.train import TrainedModel, train

CUSTOMERS = 1_200


@pytest.fixture(scope="session")
def model_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw data, dbt marts and a Feast registry for about 1,200 customers."""
    home = tmp_path_factory.mktemp("model-home")
    data = home / "data"
    generate(GeneratorConfig(customers=CUSTOMERS, seed=21), data, workers=1)
    settings = Settings(home=home, data_dir=data)
    assert run_dbt(["run"], settings) == 0
    store.apply(settings)
    return home


@pytest.fixture(scope="session")
def base_settings(model_home: Path) -> Settings:
    return Settings(home=model_home, data_dir=model_home / "data")


@pytest.fixture(scope="session")
def config() -> TrainingConfig:
    """The project's params.yaml, made quicker for a small data set.

    Segments here have a few hundred requests, so NDCG@3 differs by ±0.02 between two equally
    good models by chance: the segment tolerance is widened to 0.05 (0.02 at the default scale).
    """
    params = load_config()
    return replace(
        params,
        num_boost_round=400,
        early_stopping_rounds=30,
        xgboost={**params.xgboost, "eta": 0.1},
        experiment="offer-ranker-test",
        promotion=replace(params.promotion, segment_tolerance=0.05),
    )


@pytest.fixture(scope="session")
def data(base_settings: Settings, config: TrainingConfig) -> dataset.TrainingData:
    return dataset.build(base_settings, config.split)


@pytest.fixture(scope="session")
def model(data: dataset.TrainingData, config: TrainingConfig) -> TrainedModel:
    return train(data, config)


def registry_settings(base: Settings, root: Path, **changes) -> Settings:
    """The session's data with a fresh, private MLflow store under ``root``."""
    return Settings(
        home=base.home,
        data_dir=base.data_dir,
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        mlflow_artifact_root=root / "artifacts",
        **changes,
    )
