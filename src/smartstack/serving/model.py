"""The registry's champion: which version an alias names, and that version loaded for serving.

:class:`smartstack.serving.state.ServingStateHolder` asks :class:`RegistryAlias` at start, on every
poll and on ``POST /admin/reload``, and swaps the loaded model in with the rest of the state.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import numpy as np
import xgboost as xgb
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from smartstack.registry_errors import missing
from smartstack.serving.treepaths import Leaves, TreePaths


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    paths: TreePaths  # the booster, read for one-call scores and reason codes
    columns: np.ndarray  # positions of the model's inputs in the feature service's matrix
    feature_names: list[str]

    def score(self, matrix: np.ndarray) -> tuple[np.ndarray, Leaves]:
        """Scores of the rows, and the leaves they reached (what reason codes are made of).

        Columns are selected by the feature service's names at load time, so the per-call
        name check (a noticeable share of a sub-millisecond prediction) is skipped.
        """
        leaves = self.paths.leaves(matrix[:, self.columns])
        return self.paths.scores(leaves), leaves

    def contributions(self, leaves: Leaves) -> np.ndarray:
        """Per-feature contributions (last column: bias) of the rows that reached ``leaves``.

        Saabas path attributions, as XGBoost's ``approx_contribs``, from tables built at load:
        tens of microseconds where exact TreeSHAP costs milliseconds.
        """
        return self.paths.contributions(leaves)


def _booster(model: object) -> xgb.Booster:
    return model if isinstance(model, xgb.Booster) else model.get_booster()  # type: ignore[attr-defined]


class RegistryUnavailable(Exception):
    """The registry could not be asked (down, erroring): keep serving what is loaded."""


class RegistryAlias:
    """The version a registry alias names, and that version loaded for serving."""

    def __init__(self, tracking_uri: str, name: str, alias: str, feature_names: list[str]) -> None:
        self.name = name
        self.alias = alias
        self._tracking_uri = tracking_uri
        self._feature_names = feature_names

    def with_alias(self, alias: str) -> RegistryAlias:
        """The same registered model under another alias (an experiment's challenger)."""
        return RegistryAlias(self._tracking_uri, self.name, alias, self._feature_names)

    def version(self) -> str | None:
        """The version the alias points at; None when the alias (or the model) was removed.

        Raises :class:`RegistryUnavailable` when the registry cannot say: only an explicit
        removal withdraws a model.
        """
        client = MlflowClient(self._tracking_uri, self._tracking_uri)
        try:
            return str(client.get_model_version_by_alias(self.name, self.alias).version)
        except Exception as exc:
            if isinstance(exc, MlflowException) and missing(exc):
                return None
            raise RegistryUnavailable(repr(exc)) from exc

    def load(self, version: str) -> LoadedModel:
        """The version's booster as flat tables, its inputs mapped onto the service's columns."""
        # `models:/` URIs resolve against MLflow's process-wide registry: this process serves
        # one registry, so it is pointed there.
        mlflow.set_tracking_uri(self._tracking_uri)
        mlflow.set_registry_uri(self._tracking_uri)
        booster = _booster(mlflow.xgboost.load_model(f"models:/{self.name}/{version}"))
        booster.set_param({"nthread": 1})
        names = booster.feature_names or self._feature_names
        position = {n: i for i, n in enumerate(self._feature_names)}
        missing = [n for n in names if n not in position]
        if missing:
            raise ValueError(f"model inputs missing from the feature service: {missing[:5]}")
        return LoadedModel(
            self.name,
            version,
            TreePaths(booster),
            np.array([position[n] for n in names]),
            list(names),
        )
