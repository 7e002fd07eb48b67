"""Scores and reason codes of an XGBoost model from one leaf-index call per request.

XGBoost's ``pred_contribs`` recomputes every tree's node means on each call, a fixed cost of
about half a millisecond even for three rows, on top of a separate prediction call. Both answers
follow from which leaf each row reaches in each tree, so the model is read once at load:

- a row's margin is the base margin plus the values of its leaves;
- its Saabas contributions (what XGBoost returns with ``approx_contribs=True``) are, along each
  tree's root-to-leaf path, the change in the node's cover-weighted mean value credited to the
  split feature; their sum plus the bias (base margin plus the roots' means) is the margin.

A request then costs one leaf prediction (XGBoost still walks the trees, so missing values and
split conditions are handled by XGBoost itself) and a few array gathers. The tests check both
results against XGBoost's own ``predict`` and ``pred_contribs``.

The leaf prediction goes through XGBoost's C API (``XGDMatrixCreateFromDense`` and
``XGBoosterPredictFromDMatrix``, the calls ``Booster.predict`` makes) directly: the Python
``DMatrix`` wrapper's type dispatch and metadata handling cost more than the prediction itself
for 30 rows (0.43 ms against 0.27 ms here).

That call (:func:`leaf_indices`) is the module's one use of XGBoost's private API:
``xgboost.core._LIB`` (the loaded C library: ``XGDMatrixCreateFromDense``,
``XGBoosterPredictFromDMatrix``, ``XGDMatrixFree``), ``_check_call`` and ``c_bst_ulong``, with the
JSON configurations those functions take in xgboost 3.2. It is why ``pyproject.toml`` holds
xgboost to ``>=3.2,<3.3``. ``tests/serving/test_treepaths.py`` guards it: its private-API tests
fail, naming the installed version and what to re-check, when an upgrade changes any of it.
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb
from xgboost.core import _LIB, _check_call, c_bst_ulong

# Objectives whose predicted value is the sigmoid of the margin, or the margin itself.
_SIGMOID = {"binary:logistic", "reg:logistic"}
_IDENTITY = {"binary:logitraw", "reg:squarederror", "rank:ndcg", "rank:map", "rank:pairwise"}

# Arguments of the C API calls behind ``xgb.DMatrix(matrix, nthread=1)`` and
# ``booster.predict(data, pred_leaf=True)`` (prediction type 6: leaf indices, every tree).
_DENSE_CONFIG = json.dumps({"missing": float("nan"), "nthread": 1}).encode()
_LEAF_CONFIG = json.dumps(
    {"type": 6, "training": False, "iteration_begin": 0, "iteration_end": 0, "strict_shape": False}
).encode()


def _sigmoid(margin: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-margin))


def _identity(margin: np.ndarray) -> np.ndarray:
    return margin


def _link(booster: xgb.Booster) -> Callable[[np.ndarray], np.ndarray]:
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    if objective in _SIGMOID:
        return _sigmoid
    if objective in _IDENTITY:
        return _identity
    raise ValueError(f"objective {objective!r} is not supported by the serving scorer")


def leaf_indices(booster: xgb.Booster, matrix: np.ndarray) -> np.ndarray:
    """What ``booster.predict(xgb.DMatrix(matrix), pred_leaf=True)`` returns, as int64 [rows,
    trees], through the same C calls without the Python wrapper's cost."""
    data = np.ascontiguousarray(matrix, dtype=np.float64)
    interface = {"data": [data.ctypes.data, True], "shape": list(data.shape)}
    interface |= {"typestr": "<f8", "version": 3}
    handle = ctypes.c_void_p()
    _check_call(
        _LIB.XGDMatrixCreateFromDense(
            json.dumps(interface).encode(), _DENSE_CONFIG, ctypes.byref(handle)
        )
    )
    try:
        shape = ctypes.POINTER(c_bst_ulong)()
        dims = c_bst_ulong()
        out = ctypes.POINTER(ctypes.c_float)()
        _check_call(
            _LIB.XGBoosterPredictFromDMatrix(
                booster.handle,
                handle,
                _LEAF_CONFIG,
                ctypes.byref(shape),
                ctypes.byref(dims),
                ctypes.byref(out),
            )
        )
        # The buffer belongs to the booster and is reused by its next prediction: copy.
        count = int(np.prod([shape[i] for i in range(dims.value)]))
        ids = np.ctypeslib.as_array(out, shape=(count,))
        return ids.astype(np.int64).reshape(len(data), -1)
    finally:
        _check_call(_LIB.XGDMatrixFree(handle))


@dataclass(frozen=True)
class _Tree:
    """One tree's leaves: value, and the (feature, mean change) steps of the path to each."""

    leaves: dict[int, tuple[float, list[tuple[int, float]]]]
    root_mean: float
    size: int  # highest node id + 1


def _read_tree(node: dict[str, Any], column: dict[str, int]) -> _Tree:
    leaves: dict[int, tuple[float, list[tuple[int, float]]]] = {}
    highest = 0

    def mean(n: dict[str, Any]) -> float:
        if "leaf" in n:
            return float(n["leaf"])
        children = n["children"]
        total = sum(float(c["cover"]) for c in children)
        return sum(float(c["cover"]) * mean(c) for c in children) / total

    def walk(n: dict[str, Any], n_mean: float, path: list[tuple[int, float]]) -> None:
        nonlocal highest
        highest = max(highest, int(n["nodeid"]))
        if "leaf" in n:
            leaves[int(n["nodeid"])] = (float(n["leaf"]), path)
            return
        feature = column[n["split"]]
        for child in n["children"]:
            child_mean = mean(child)
            walk(child, child_mean, [*path, (feature, child_mean - n_mean)])

    root_mean = mean(node)
    walk(node, root_mean, [])
    return _Tree(leaves, root_mean, highest + 1)


@dataclass(frozen=True)
class Leaves:
    """Which leaf each row reached in each tree, as row-major keys into the model's tables."""

    keys: np.ndarray  # [rows, trees]

    def take(self, rows: np.ndarray | slice) -> Leaves:
        return Leaves(self.keys[rows])


class TreePaths:
    """One XGBoost booster read into flat tables, for fast scores and reason codes."""

    def __init__(self, booster: xgb.Booster) -> None:
        names = booster.feature_names
        if not names:
            raise ValueError("the booster has no feature names")
        self.booster = booster
        self.n_features = len(names)
        self._link = _link(booster)
        column = {name: i for i, name in enumerate(names)}
        trees = [
            _read_tree(json.loads(dump), column)
            for dump in booster.get_dump(dump_format="json", with_stats=True)
        ]
        self._offsets = np.cumsum([0] + [t.size for t in trees[:-1]]).astype(np.int64)
        size = int(self._offsets[-1] + trees[-1].size)
        depth = max((len(p) for t in trees for _, p in t.leaves.values()), default=0)
        self._value = np.zeros(size)
        # Padding steps point at an extra column, dropped from the result, with no weight.
        self._feature = np.full((size, max(depth, 1)), self.n_features, dtype=np.int64)
        self._delta = np.zeros((size, max(depth, 1)))
        for offset, tree in zip(self._offsets, trees, strict=True):
            for node, (value, path) in tree.leaves.items():
                key = offset + node
                self._value[key] = value
                for step, (feature, delta) in enumerate(path):
                    self._feature[key, step] = feature
                    self._delta[key, step] = delta
        self._base_margin = self._probe_base_margin()
        self.bias = self._base_margin + sum(t.root_mean for t in trees)

    def _probe_base_margin(self) -> float:
        """The booster's base margin: a prediction's margin less its leaves' values."""
        probe = np.full((1, self.n_features), np.nan)
        margin = self.booster.inplace_predict(probe, predict_type="margin", validate_features=False)
        return float(np.asarray(margin).ravel()[0] - self._value[self.leaves(probe).keys].sum())

    def leaves(self, matrix: np.ndarray) -> Leaves:
        """The one XGBoost call per request: each row's leaf in each tree."""
        return Leaves(leaf_indices(self.booster, matrix) + self._offsets)

    def scores(self, leaves: Leaves) -> np.ndarray:
        """What ``booster.predict`` returns: the objective's link of the margin."""
        return self._link(self._base_margin + self._value[leaves.keys].sum(axis=1))

    def contributions(self, leaves: Leaves) -> np.ndarray:
        """Saabas contributions per feature, last column the bias, as ``approx_contribs``."""
        n = len(leaves.keys)
        width = self.n_features + 1
        features = self._feature[leaves.keys] + (np.arange(n) * width)[:, None, None]
        totals = np.bincount(
            features.ravel(), weights=self._delta[leaves.keys].ravel(), minlength=n * width
        ).reshape(n, width)
        totals[:, -1] = self.bias
        return totals
