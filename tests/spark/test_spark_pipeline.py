"""After dbt, the pipeline's steps on the spark warehouse give the local pipeline's answers.

On the marts Spark built (conftest's ``spark_home``), the features are gated, Feast reads them
through its Spark offline store (training set, materialization) and XGBoost trains with
xgboost.spark, logged and registered as on the local profile. The training set must equal the
local pipeline's row for row, and the model's test NDCG@3 be within 0.005 of the single-node
model's on the same split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Run

from smartstack.settings import Settings, Warehouse
from smartstack.training import dataset, registry
from smartstack.training.metrics import ndcg_at_k
from smartstack.training.train import train
from tests.conftest import BuiltHome
from tests.spark.conftest import SparkHome

pytestmark = pytest.mark.slow

# The pipeline's seed (training/params.yaml) first.
SEEDS = (42, 43, 44)
STEPS = (
    ("quality", "validate", "--stage", "features"),
    ("feast", "apply"),
    ("feast", "materialize"),
    ("train",),
)


@dataclass(frozen=True)
class Trained:
    settings: Settings
    outputs: dict[str, str]


@pytest.fixture(scope="module")
def trained(spark_home: SparkHome) -> Trained:
    outputs = {}
    for step in STEPS:
        done = spark_home.smartstack(*step)
        outputs[" ".join(step)] = done.stdout + done.stderr
        assert done.returncode == 0, (" ".join(step), (done.stdout + done.stderr)[-6000:])
    return Trained(Settings(home=spark_home.home, warehouse=Warehouse.spark), outputs)


def _pipelines_run(settings: Settings) -> Run:
    """The home's first training run: the one its pipeline made. Read with a client of its
    own (``registry.configure`` would export the home's tracking URI to this process)."""
    client = MlflowClient(tracking_uri=registry.tracking_uri(settings))
    experiment = client.get_experiment_by_name(settings.training.experiment)
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time ASC"], max_results=1
    )
    return runs[0]


def test_the_training_set_is_the_local_pipelines(trained: Trained, built: BuiltHome) -> None:
    """Feast's Spark offline store joins the same feature values to the same labelled rows as
    its DuckDB offline store (features as float32, NaN where missing)."""
    spark_frame, spark_features = dataset.load_frame(trained.settings)
    local_frame, local_features = dataset.load_frame(built.settings)
    assert spark_features == local_features
    assert len(spark_frame) == len(local_frame) > 1000
    pd.testing.assert_frame_equal(spark_frame, local_frame, check_exact=False, rtol=1e-6)
    assert np.isfinite(spark_frame[spark_features].to_numpy()).any()


def test_xgboost_spark_ranks_as_well_as_single_node(trained: Trained, built: BuiltHome) -> None:
    """The model xgboost.spark fitted was registered with a test NDCG@3 within 0.005 of
    single-node XGBoost's on the same split. Single-node quality is its mean over seeds: on
    this data set one seed's NDCG@3 moves by about 0.005 from another's (the row and column
    subsampling), as much as the engine, so a single pair would compare seeds."""
    spark_run, local_run = _pipelines_run(trained.settings), _pipelines_run(built.settings)
    assert spark_run.data.tags["fitted_by"] == "xgboost.spark"
    assert local_run.data.tags["fitted_by"] == "xgboost"
    settings = built.settings
    data = dataset.build(settings, settings.training.split)
    matrix, groups, grades = data.matrix("test"), data.groups("test"), data.grades("test")
    single_node = [
        ndcg_at_k(groups, grades, train(data, settings.training, seed=seed).margin(matrix), 3)
        for seed in SEEDS
    ]
    assert single_node[0] == pytest.approx(local_run.data.metrics["test.ndcg_3"], abs=1e-9)
    spark_ndcg = spark_run.data.metrics["test.ndcg_3"]
    assert abs(spark_ndcg - float(np.mean(single_node))) <= 0.005, (spark_ndcg, single_node)
