"""The serving scorer's one-call scores and reason codes equal XGBoost's own answers."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from smartstack.serving.treepaths import TreePaths

FEATURES = [f"f{i}" for i in range(12)]


def _data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES)))
    y = (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    x[rng.random(x.shape) < 0.15] = np.nan  # missing values take each split's default branch
    return x, y


def _booster(objective: str) -> xgb.Booster:
    x, y = _data(600, seed=1)
    data = xgb.DMatrix(x, label=y, feature_names=FEATURES)
    params = {"objective": objective, "max_depth": 4, "eta": 0.3, "nthread": 1, "seed": 0}
    if objective.startswith("rank:"):
        data.set_group([20] * 30)
    return xgb.train(params, data, num_boost_round=25)


@pytest.mark.parametrize("objective", ["binary:logistic", "rank:ndcg", "reg:squarederror"])
def test_scores_and_contributions_match_xgboost(objective: str) -> None:
    booster = _booster(objective)
    paths = TreePaths(booster)
    x, _ = _data(40, seed=2)
    leaves = paths.leaves(x)

    expected = booster.inplace_predict(x, validate_features=False)
    np.testing.assert_allclose(paths.scores(leaves), expected, rtol=1e-5, atol=1e-6)

    saabas = booster.predict(
        xgb.DMatrix(x, feature_names=FEATURES), pred_contribs=True, approx_contribs=True
    )
    np.testing.assert_allclose(paths.contributions(leaves), saabas, rtol=1e-4, atol=1e-5)
    top = paths.contributions(leaves.take(slice(0, 3)))
    np.testing.assert_allclose(top, saabas[:3], rtol=1e-4, atol=1e-5)


def test_unsupported_objective_is_refused_at_load() -> None:
    x, y = _data(200, seed=3)
    booster = xgb.train(
        {"objective": "count:poisson", "nthread": 1},
        xgb.DMatrix(x, label=y, feature_names=FEATURES),
        num_boost_round=3,
    )
    with pytest.raises(ValueError, match="count:poisson"):
        TreePaths(booster)
