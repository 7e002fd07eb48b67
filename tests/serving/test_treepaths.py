"""The serving scorer's one-call scores and reason codes equal XGBoost's own answers.

``smartstack.serving.treepaths`` calls XGBoost's private C API; the private-API tests below fail
with what to do when an xgboost upgrade changes what it relies on.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
import xgboost as xgb
import xgboost.core

# The xgboost minor series whose private names treepaths was last checked against, and the
# pyproject.toml pin that holds xgboost to it.
VERIFIED_SERIES = (3, 2)
PIN = f">={VERIFIED_SERIES[0]}.{VERIFIED_SERIES[1]},<{VERIFIED_SERIES[0]}.{VERIFIED_SERIES[1] + 1}"
# What treepaths.leaf_indices calls through ``xgboost.core._LIB``.
C_FUNCTIONS = ("XGDMatrixCreateFromDense", "XGBoosterPredictFromDMatrix", "XGDMatrixFree")


def xgboost_changed(problem: str) -> str:
    """The failure message of every private-API check: what changed, and the two ways out."""
    return (
        f"xgboost {xgb.__version__} changed what smartstack.serving.treepaths relies on: {problem}. "
        f"treepaths calls xgboost's private C API (xgboost.core._LIB: {', '.join(C_FUNCTIONS)}; "
        f"_check_call; c_bst_ulong) as xgboost {VERIFIED_SERIES[0]}.{VERIFIED_SERIES[1]} defines "
        "it. Re-check treepaths.leaf_indices against include/xgboost/c_api.h and Booster.predict "
        f"of xgboost {xgb.__version__}, make the equivalence tests in "
        "tests/serving/test_treepaths.py pass, then update VERIFIED_SERIES there and the pin in "
        f"pyproject.toml together; or pin xgboost back to {PIN} in pyproject.toml."
    )


try:
    from smartstack.serving.treepaths import TreePaths, leaf_indices
except ImportError as exc:  # a private name treepaths imports from xgboost.core is gone
    pytest.fail(xgboost_changed(f"a name treepaths imports is gone ({exc})"), pytrace=False)

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


def test_installed_xgboost_is_the_series_the_private_api_was_checked_against() -> None:
    installed = tuple(int(part) for part in xgb.__version__.split(".")[:2])
    assert installed == VERIFIED_SERIES, xgboost_changed(
        "its version: only the private API of the pinned series has been checked"
    )


def test_private_names_treepaths_uses_exist() -> None:
    for name in ("_LIB", "_check_call", "c_bst_ulong"):
        assert hasattr(xgboost.core, name), xgboost_changed(f"xgboost.core has no {name}")
    assert isinstance(xgboost.core._LIB, ctypes.CDLL), xgboost_changed(
        "xgboost.core._LIB is no longer the loaded C library"
    )
    for function in C_FUNCTIONS:
        assert hasattr(xgboost.core._LIB, function), xgboost_changed(
            f"the C library has no {function}"
        )


def test_check_call_raises_on_a_failed_c_call() -> None:
    # treepaths relies on _check_call to turn a C function's error code into an exception.
    try:
        xgboost.core._check_call(-1)
    except xgb.core.XGBoostError:
        return
    pytest.fail(xgboost_changed("_check_call(-1) no longer raises XGBoostError"))


def test_leaf_indices_equal_xgboosts_pred_leaf() -> None:
    booster = _booster("binary:logistic")
    x, _ = _data(40, seed=4)
    expected = booster.predict(xgb.DMatrix(x, feature_names=FEATURES), pred_leaf=True)
    ours = leaf_indices(booster, x)
    assert ours.shape == expected.shape, xgboost_changed(
        f"leaf_indices returns shape {ours.shape}, predict(pred_leaf=True) {expected.shape}"
    )
    assert np.array_equal(ours, expected), xgboost_changed(
        "leaf_indices (XGBoosterPredictFromDMatrix, prediction type 6) no longer equals "
        "predict(pred_leaf=True)"
    )
