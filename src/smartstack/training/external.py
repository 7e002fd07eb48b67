"""The current champion, evaluated on another directory in the data set's own format.

``smartstack evaluate-dataset --dataset starbucks --data-dir PATH`` answers "how does the model
in the registry do on customers it never saw?" through the same platform path as training: the
pipeline's steps up to ``feast_apply`` (:mod:`smartstack.pipeline`) land the directory with the
data set's adapter into a scratch home (``<home>/evaluations/<digest of PATH>``), gate it, build
it with dbt, gate the marts and register them in that scratch Feast registry; here they become
the point-in-time training set of the active feature service. Its test period (the split of
``params.yaml``: for Starbucks the offers sent at and after hour 504) is scored by:

- ``champion``: the registered champion (the first target) and, for each other target, the
  companion model logged in the champion's run (``companions/<target>.ubj``);
- ``smartscore``: the SmartScore rules, with the Platt coefficients of that run;
- ``demographic``: the demographic-only baseline of that run;
- ``popularity``: each offer's rate over that run's train period.

Nothing is fitted on the evaluated directory: every coefficient comes from the champion's run.
Figures are AUC, log loss, accuracy, F1 and NDCG@3 (over each customer's offers), for every
target, on all test rows and on each of the data set's subsets (without censored rows, ...).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import xgboost as xgb
from mlflow.entities.model_registry import ModelVersion

from smartstack.datasets import active, feature_service_name
from smartstack.settings import OnlineStore, Profile, Settings, Warehouse, mask_url
from smartstack.training import dataset, registry
from smartstack.training.baselines import Scored, popularity_baseline, smartscore_baseline
from smartstack.training.companions import ARTIFACT_DIR
from smartstack.training.evaluate import evaluate_scores, score_booster

REPORTED = ("auc", "log_loss", "accuracy", "f1", "ndcg_3")
RANKERS = ("champion", "smartscore", "demographic", "popularity")


class NoChampion(LookupError):
    """No model version is aliased ``champion``; one sentence."""


def scratch_settings(settings: Settings, source_dir: Path, work_dir: Path | None) -> Settings:
    """Embedded stores for the evaluated directory, apart from the platform's own."""
    digest = hashlib.sha256(str(source_dir.resolve()).encode()).hexdigest()[:12]
    home = work_dir or settings.home / "evaluations" / digest
    return Settings(
        profile=Profile.local,
        home=home,
        data_dir=home / "data",
        dataset=settings.dataset,
        source_dir=source_dir,
        source_start_date=settings.source_start_date,
        feature_service=settings.feature_service,
        warehouse=Warehouse.duckdb,
        online_store=OnlineStore.sqlite,
        postgres_url=None,
        mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
    )


def _companions(run_id: str) -> Path:
    """The champion run's ``companions/`` artifacts, downloaded to a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="smartstack-companions-"))
    mlflow.artifacts.download_artifacts(
        run_id=run_id,
        artifact_path=ARTIFACT_DIR,
        dst_path=str(folder),
        tracking_uri=mlflow.get_tracking_uri(),
    )
    return folder / ARTIFACT_DIR


def _booster(path: Path) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(path)
    return booster


def score_target(
    data: dataset.TrainingData, champion: xgb.Booster, companions: Path
) -> dict[str, Scored]:
    """Every ranker on the test period of one target's rows."""
    name = data.target.name
    spec = json.loads((companions / f"{name}.json").read_text())
    model = champion if spec["registered"] else _booster(companions / f"{name}.ubj")
    scored = {
        "champion": score_booster(model, data),
        "smartscore": smartscore_baseline(data, calibration=tuple(spec["smartscore_platt"])),
        "popularity": popularity_baseline(data, 0.0, rates=spec["popularity_rates"]),
    }
    demographic = companions / f"{name}_demographic.ubj"
    if demographic.exists():
        scored["demographic"] = score_booster(_booster(demographic), data)
    return scored


def figures(data: dataset.TrainingData, scored: dict[str, Scored]) -> dict[str, Any]:
    """``{scope: {rows, positives, rankers: {ranker: {metric: value}}}}`` for one target."""
    reports = {name: evaluate_scores(data, s) for name, s in scored.items()}
    labels = data.labels("test")
    masks = {"all": np.ones(labels.size, dtype=bool), **data.subset_masks("test")}
    out: dict[str, Any] = {}
    for scope, mask in masks.items():
        out[scope] = {
            "rows": int(mask.sum()),
            "positives": int(labels[mask].sum()),
            "rankers": {
                name: {m: _plain(report[scope].get(m)) for m in REPORTED}
                for name, report in reports.items()
            },
        }
    return out


def _plain(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def champion_version(settings: Settings) -> ModelVersion:
    """The registered champion of ``settings``' registry; :class:`NoChampion` without one."""
    tracking = registry.configure(settings, settings.training.experiment)
    champion = registry.version_by_alias(tracking, registry.CHAMPION)
    if champion is None:
        raise NoChampion(
            f"no version of {tracking.model_name} is champion in "
            f"{mask_url(settings.mlflow_tracking_uri)}: "
            "run `smartstack run` (or train and promote) on this data set first"
        )
    return champion


def evaluate_directory(settings: Settings, scratch: Settings) -> dict[str, Any]:
    """Score the champion of ``settings``' registry on the data set built in ``scratch`` (the
    pipeline's steps up to ``feast_apply``, run by the caller); returns the figures."""
    dataset_spec = active(settings)
    champion = champion_version(settings)
    tracking = registry.configure(settings, settings.training.experiment)
    version = str(champion.version)
    booster = registry.load_booster(tracking, version)
    companions = _companions(champion.run_id)
    data = dataset.build(scratch, settings.training.split)
    targets = {}
    for target in dataset_spec.targets:
        restricted = data if target == data.target else data.restricted(target)
        targets[target.name] = {
            "definition": target.description,
            "label": target.label,
            "rows": target.rows or "every offer received",
            "scopes": figures(restricted, score_target(restricted, booster, companions)),
        }
    return {
        "dataset": dataset_spec.name,
        "source_dir": str(scratch.source_dir),
        "champion": {"model": tracking.model_name, "version": version, "run_id": champion.run_id},
        "feature_service": feature_service_name(scratch),
        "test_period": data.boundaries["test"],
        "metrics": list(REPORTED),
        "targets": targets,
    }
