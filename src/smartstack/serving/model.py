"""The registry's champion, loaded at start and swapped when its alias moves.

Requests read :attr:`ModelHolder.current` once and keep that reference to the end, and the
poller replaces the attribute in one assignment after the new version is fully loaded, so a
swap never fails or mixes versions within a request in flight.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import mlflow
import numpy as np
import xgboost as xgb
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.tracking import MlflowClient

from smartstack.serving.treepaths import Leaves, TreePaths

log = logging.getLogger(__name__)


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


def _withdrawn(exc: MlflowException) -> bool:
    """The registered model or its alias no longer exists.

    MLflow reports a missing model as ``RESOURCE_DOES_NOT_EXIST`` but a missing alias as
    ``INVALID_PARAMETER_VALUE`` ("Registered model alias … not found"), hence the message check.
    """
    return exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST) or "not found" in exc.message


def _booster(model: object) -> xgb.Booster:
    return model if isinstance(model, xgb.Booster) else model.get_booster()  # type: ignore[attr-defined]


class ModelHolder:
    """Holds the model behind ``models:/<name>@<alias>`` and follows the alias in the background."""

    def __init__(
        self,
        tracking_uri: str,
        name: str,
        alias: str,
        feature_names: list[str],
        poll_seconds: float,
    ) -> None:
        self.name = name
        self._alias = alias
        self._tracking_uri = tracking_uri
        self._feature_names = feature_names
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="model-poller", daemon=True)
        self.current: LoadedModel | None = None

    def start(self) -> None:
        mlflow.set_tracking_uri(self._tracking_uri)
        mlflow.set_registry_uri(self._tracking_uri)
        self.refresh()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def refresh(self) -> None:
        """Swap in the version the alias points at; drop the model if the alias was removed.

        A registry that cannot be reached keeps the current model: only an explicit removal of
        the alias (or the version) withdraws it.
        """
        client = MlflowClient(self._tracking_uri, self._tracking_uri)
        try:
            version = client.get_model_version_by_alias(self.name, self._alias).version
        except Exception as exc:
            if isinstance(exc, MlflowException) and _withdrawn(exc):
                if self.current is not None:
                    log.warning("%s@%s is gone: serving without a model", self.name, self._alias)
                self.current = None
            else:  # registry down or erroring: keep what we have
                log.warning("model registry unavailable, keeping the current model: %r", exc)
            return
        if self.current is not None and self.current.version == str(version):
            return
        try:
            self.current = self._load(str(version))
            log.info("serving %s version %s", self.name, version)
        except Exception:
            log.exception(
                "could not load %s version %s; keeping the current one", self.name, version
            )

    def _load(self, version: str) -> LoadedModel:
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

    def _poll(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            self.refresh()
