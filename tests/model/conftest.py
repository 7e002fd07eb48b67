"""The session's built data set (1,200 customers through dbt and Feast), trained on by every
model test.

Each test that touches the registry gets its own MLflow store (SQLite in a temporary folder),
so promotion histories never leak between tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from smartstack.settings import Settings, TrainingSettings
from smartstack.training import dataset
from smartstack.training.train import TrainedModel, train
from tests.conftest import BuiltHome


@pytest.fixture(scope="session")
def base_settings(built: BuiltHome) -> Settings:
    """The session's built home: its marts and Feast registry (read only)."""
    return built.settings


@pytest.fixture(scope="session")
def config() -> TrainingSettings:
    """The project's params.yaml, made quicker for a small data set.

    Segments here have a few hundred requests, so NDCG@3 differs by ±0.02 between two equally
    good models by chance: the segment tolerance is widened to 0.05 (0.02 at the default scale).
    """
    params = Settings().training
    return params.with_overrides(
        num_boost_round=400,
        early_stopping_rounds=30,
        xgboost={**params.xgboost, "eta": 0.1},
        experiment="offer-ranker-test",
        promotion=params.promotion.model_copy(update={"segment_tolerance": 0.05}),
    )


@pytest.fixture(scope="session")
def data(base_settings: Settings, config: TrainingSettings) -> dataset.TrainingData:
    return dataset.build(base_settings, config.split)


@pytest.fixture(scope="session")
def model(data: dataset.TrainingData, config: TrainingSettings) -> TrainedModel:
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
