"""The dataset switch: one setting moves the home, the feature service, the dbt vars and the
training configuration together."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartstack.datasets import UnknownDataset, active, feature_service_name
from smartstack.features.dbt import dbt_vars
from smartstack.settings import Settings


def test_another_data_set_gets_its_own_home_unless_one_is_given(tmp_path: Path) -> None:
    assert Settings(dataset="starbucks").home == Settings().home / "starbucks"
    assert Settings(dataset="starbucks", home=tmp_path).home == tmp_path.resolve()


def test_the_feature_service_follows_the_data_set_and_the_setting_wins(tmp_path: Path) -> None:
    assert feature_service_name(Settings(home=tmp_path)) == "offer_ranking_v1"
    starbucks = Settings(home=tmp_path, dataset="starbucks")
    assert feature_service_name(starbucks) == "offer_completion_starbucks_v1"
    chosen = Settings(home=tmp_path, dataset="starbucks", feature_service="other_v2")
    assert feature_service_name(chosen) == "other_v2"
    with pytest.raises(UnknownDataset, match="choose one of synthetic, starbucks"):
        active(Settings(home=tmp_path, dataset="nosuch"))


def test_dbt_gets_the_data_set_and_its_as_of_interval(tmp_path: Path) -> None:
    synthetic = dbt_vars(Settings(home=tmp_path))
    assert synthetic["dataset"] == "synthetic"
    assert set(synthetic) == {"dataset", "engagement_streak_qualifying", "engagement_badges"}
    # No engagement in the Starbucks data set: no engagement rules either.
    starbucks = dbt_vars(Settings(home=tmp_path, dataset="starbucks"))
    assert starbucks == {"dataset": "starbucks", "feature_interval_days": 1}


def test_params_yaml_overrides_per_data_set_key_by_key() -> None:
    base = Settings(dataset="synthetic").training
    starbucks = Settings(dataset="starbucks").training
    assert base.split.train_before_hour is None and base.experiment == "offer-ranker"
    assert starbucks.split.train_before_hour == 504
    assert starbucks.split.validation_customers == 0.2
    assert starbucks.split.train == base.split.train  # untouched keys of a section stay
    assert starbucks.promotion.metric == "auc"
    assert starbucks.promotion.min_improvement == base.promotion.min_improvement
    assert starbucks.xgboost == base.xgboost
