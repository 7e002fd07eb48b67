"""One training run end to end: data → model → baselines → metrics → MLflow → registry.

The run logs everything needed to compare it with any other run: parameters (the whole
``params.yaml`` plus overrides), the dataset fingerprint and split boundaries, test metrics
overall and per segment for the model *and* the baselines, lift over SmartScore, the feature
list read from the feature service, plots, the model card, and the model itself (XGBoost
flavour, with signature and input example) registered as a new version with alias
``challenger``. Promotion is a separate step (:mod:`smartstack.training.promote`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import mlflow.xgboost
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

from smartstack.datasets import feature_service_name
from smartstack.ranking.smartscore import VERSION as SMARTSCORE_VERSION
from smartstack.settings import Settings, TrainingSettings, Warehouse, get_settings
from smartstack.training import dataset, model_card, plots, registry
from smartstack.training.baselines import Scored, all_baselines
from smartstack.training.companions import Companions, train_companions
from smartstack.training.distributed import train_on_spark
from smartstack.training.evaluate import Report, evaluate_scores, flatten, lift
from smartstack.training.train import TrainedModel, train, tune

log = logging.getLogger(__name__)


# Version tag: which training configuration produced the model (see ``config_fingerprint``).
CONFIG_FINGERPRINT = "config_fingerprint"


def config_fingerprint(config: TrainingSettings, tune_first: bool) -> str:
    """A short hash of everything that, with the data, decides the model."""
    settings = json.dumps(config.flat() | {"tune_first": tune_first}, sort_keys=True, default=str)
    return hashlib.sha256(settings.encode()).hexdigest()[:16]


def already_trained(
    config: TrainingSettings,
    data: dataset.TrainingData,
    settings: Settings | None = None,
    tune_first: bool = False,
) -> str | None:
    """The registered version trained with this configuration on exactly this data set, if any.

    Training is seeded, so such a version is the model a new run would produce; reusing it
    keeps a rerun of the training step from registering duplicates.
    """
    tracking = registry.configure(settings or get_settings(), config.experiment)
    wanted = {
        "dataset_fingerprint": data.fingerprint,
        CONFIG_FINGERPRINT: config_fingerprint(config, tune_first),
    }
    found = registry.versions_tagged(tracking, wanted)
    return str(max(int(v.version) for v in found)) if found else None


@dataclass
class TrainingResult:
    run_id: str
    version: str
    model: TrainedModel
    reports: dict[str, Report]  # "xgboost", "smartscore", "popularity", "oracle"
    data: dataset.TrainingData
    tuned: dict | None


@dataclass(frozen=True)
class _Candidate:
    """A trained model, what it was trained on, and how it and every baseline score on test.

    Each logging step below reads from this one value, so the run's parameters, metrics,
    artifacts, model card and registry tags all describe the same model and the same rows.
    """

    config: TrainingSettings
    data: dataset.TrainingData
    model: TrainedModel
    service: str  # the feature service that lists the model's features
    scored: Scored  # the model's test-period margins and probabilities
    baselines: dict[str, Scored]  # by name, on the same test rows
    companions: Companions
    reports: dict[str, Report]  # "xgboost" and one per baseline


def run_training(
    config: TrainingSettings,
    settings: Settings | None = None,
    data: dataset.TrainingData | None = None,
    tune_first: bool = False,
    run_name: str | None = None,
    labels: dict[str, np.ndarray] | None = None,
    tags: dict[str, str] | None = None,
) -> TrainingResult:
    """Train, evaluate and register one candidate; returns its run id and model version."""
    settings = settings or get_settings()
    if data is None:
        dataset.check_inputs(settings)
    tracking = registry.configure(settings, config.experiment)
    data = data or dataset.build(settings, config.split)

    tuned = tune(data, config, config.seed) if tune_first else None
    overrides = {k: v for k, v in (tuned or {}).items() if not k.startswith("_")}
    # On the spark warehouse XGBoost's workers fit on Spark; replaced labels (the gate's own
    # tests) are a single-node fit's.
    if settings.warehouse is Warehouse.spark and labels is None:
        model = train_on_spark(data, config, settings, overrides=overrides)
    else:
        model = train(data, config, overrides=overrides, labels=labels)
    candidate = _evaluate_candidate(config, settings, data, model)

    with mlflow.start_run(
        experiment_id=tracking.experiment_id,
        run_name=run_name or f"{config.objective}-seed{config.seed}",
        tags=_run_tags(candidate) | (tags or {}),
    ) as run:
        run_id = run.info.run_id
        _log_params(candidate, overrides)
        mlflow.log_metrics(_run_metrics(candidate, tuned))
        gain = _log_evaluation(candidate)
        version = _log_model(candidate, tracking.model_name)
        card = _model_card(candidate, tracking.model_name, version, run_id, gain)
        mlflow.log_text(card, "model_card.md")
        _register_candidate(candidate, tracking, version, run_id, tune_first, card)
    log.info("registered %s version %s (run %s)", tracking.model_name, version, run_id)
    return TrainingResult(run_id, version, model, candidate.reports, data, tuned)


def _evaluate_candidate(
    config: TrainingSettings,
    settings: Settings,
    data: dataset.TrainingData,
    model: TrainedModel,
) -> _Candidate:
    """Score the model and the baselines on the test period and evaluate each."""
    test = data.matrix("test")
    scored = Scored(model.margin(test), model.proba(test))
    baselines = all_baselines(data, config.popularity_prior_weight)
    # The data set's other targets and its demographic-only baseline, in the same run.
    companions = train_companions(data, config, settings)
    baselines |= companions.primary_baselines()
    reports = {"xgboost": evaluate_scores(data, scored)}
    reports |= {name: evaluate_scores(data, s) for name, s in baselines.items()}
    return _Candidate(
        config=config,
        data=data,
        model=model,
        service=feature_service_name(settings),
        scored=scored,
        baselines=baselines,
        companions=companions,
        reports=reports,
    )


def _run_tags(candidate: _Candidate) -> dict[str, str]:
    """What was trained, on which features and data, against which SmartScore version."""
    return {
        "objective": candidate.config.objective,
        "fitted_by": candidate.model.fitted_by,
        "feature_service": candidate.service,
        "dataset_fingerprint": candidate.data.fingerprint,
        "smartscore_version": SMARTSCORE_VERSION,
    }


def _log_params(candidate: _Candidate, overrides: dict) -> None:
    """The training configuration with the tuned overrides, then the data and the fitted model."""
    config, data, model = candidate.config, candidate.data, candidate.model
    mlflow.log_params(config.flat() | {f"tuned.{k}": v for k, v in overrides.items()})
    mlflow.log_params(
        {
            "dataset_fingerprint": data.fingerprint,
            "test_fingerprint": data.part_fingerprints["test"],
            **{f"period.{p}": data.boundaries[p] for p in dataset.PARTS},
            **data.counts(),
            "n_features": len(data.features),
            # What the booster was given: `large` and tuning may have changed `xgboost`'s.
            **{f"booster.{k}": v for k, v in model.params.items()},
            "best_iteration": model.best_iteration,
            "fit.early_stopping_rounds": model.early_stopping_rounds,
            "platt_a": model.calibration[0],
            "platt_b": model.calibration[1],
        }
    )


def _run_metrics(candidate: _Candidate, tuned: dict | None) -> dict[str, float]:
    """Test metrics of the model and each baseline, lift over SmartScore, share of the oracle,
    the companion targets' figures, training time and, after tuning, the search's result; only
    the finite ones."""
    reports = candidate.reports
    metrics = flatten(reports["xgboost"], "test")
    for name in candidate.baselines:
        metrics |= flatten(reports[name], f"baseline.{name}.test")
    metrics |= {
        f"lift_over_smartscore.{k}": v
        for k, v in lift(reports["xgboost"], reports["smartscore"]).items()
    }
    if "oracle" in reports:
        oracle = reports["oracle"]["all"]
        metrics |= {
            f"share_of_oracle.{m}": reports["xgboost"]["all"][m] / oracle[m]
            for m in ("ndcg_3", "ndcg_5")
        }
    metrics |= candidate.companions.metrics()
    metrics["train_seconds"] = candidate.model.seconds
    if tuned:
        metrics["tuning.best_validation_ndcg_3"] = tuned["_best_value"]
        metrics["tuning.trials"] = tuned["_trials"]
    return {k: v for k, v in metrics.items() if np.isfinite(v)}


def _log_evaluation(candidate: _Candidate) -> dict[str, float]:
    """The ``evaluation/`` plots and JSON files and the ``companions/`` artifacts; returns the
    model's feature importance (gain), which the model card quotes."""
    with tempfile.TemporaryDirectory() as tmp:
        gain = _write_evaluation(candidate, Path(tmp))
        mlflow.log_artifacts(tmp, artifact_path="evaluation")
    with tempfile.TemporaryDirectory() as tmp:
        candidate.companions.write(Path(tmp))
        mlflow.log_artifacts(tmp)
    return gain


def _write_evaluation(candidate: _Candidate, out: Path) -> dict[str, float]:
    """Calibration and precision-recall plots of the model against the baselines, feature
    importance, the feature list, the data set's fingerprints and the test reports."""
    data, model = candidate.data, candidate.model
    labels_test = data.labels("test")
    curves = {"xgboost": candidate.scored, **candidate.baselines}
    gain = plots.feature_importance(model.booster, out / "feature_importance.png")
    plots.calibration(labels_test, curves, out / "calibration.png")
    plots.pr_curve(labels_test, curves, out / "pr_curve.png")
    (out / "feature_importance.json").write_text(json.dumps(gain, indent=1))
    (out / "features.json").write_text(
        json.dumps({"feature_service": candidate.service, "features": data.features}, indent=1)
    )
    (out / "dataset.json").write_text(
        json.dumps(
            {
                "fingerprint": data.fingerprint,
                "part_fingerprints": data.part_fingerprints,
                "boundaries": data.boundaries,
                "train_window": data.window("train"),
                **data.counts(),
            },
            indent=1,
        )
    )
    (out / "test_metrics.json").write_text(json.dumps(candidate.reports, indent=1))
    return gain


def _log_model(candidate: _Candidate, model_name: str) -> str:
    """Log the booster (with signature and input example) and register it; returns the version."""
    config, data, model = candidate.config, candidate.data, candidate.model
    # One row of the test split's column medians: a valid input that is no customer's record,
    # so the registry holds nothing an erasure would have to reach.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column missing for every row
        medians = np.nanmedian(data.matrix("test").astype(float), axis=0, keepdims=True)
    example = pd.DataFrame(medians, columns=data.features)
    signature = infer_signature(example, model.margin(example.to_numpy()))
    info = mlflow.xgboost.log_model(
        model.booster,
        name="model",
        signature=signature,
        input_example=example,
        registered_model_name=model_name,
        model_format="ubj",
        metadata={
            "feature_service": candidate.service,
            "objective": config.objective,
            "platt_a": model.calibration[0],
            "platt_b": model.calibration[1],
            "output": "margin; probability of redemption = sigmoid(platt_a*margin+platt_b)",
        },
    )
    return str(info.registered_model_version)


def _model_card(
    candidate: _Candidate, model_name: str, version: str, run_id: str, gain: dict[str, float]
) -> str:
    """The model card: the run's configuration, data, figures and top features in one page."""
    config, data, model = candidate.config, candidate.data, candidate.model
    reports = candidate.reports
    return model_card.render(
        {
            "model_name": model_name,
            "version": version,
            "run_id": run_id,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "objective": config.objective,
            "feature_service": candidate.service,
            "n_features": len(data.features),
            "trees": model.best_iteration + 1,
            "seed": config.seed,
            "params": json.dumps(model.params, sort_keys=True),
            "fingerprint": data.fingerprint,
            "test_fingerprint": data.part_fingerprints["test"],
            "boundaries": "\n".join(f"  - {p}: {data.boundaries[p]}" for p in dataset.PARTS),
            "counts": ", ".join(f"{k} {v:,}" for k, v in data.counts().items()),
            "metrics_table": model_card.metrics_table(reports),
            "segment_table": model_card.segment_table(
                reports["xgboost"], reports["smartscore"], reports.get("oracle")
            ),
            "top_features": ", ".join(list(gain)[:10]),
            "calibration": f"a={model.calibration[0]:.4f}, b={model.calibration[1]:.4f}",
        }
    )


def _register_candidate(
    candidate: _Candidate,
    tracking: registry.Tracking,
    version: str,
    run_id: str,
    tune_first: bool,
    card: str,
) -> None:
    """Make the version the challenger, tagged so that :func:`already_trained` and the
    promotion gate can find it, with the model card as its description."""
    config, data = candidate.config, candidate.data
    registry.mark_candidate(
        tracking,
        version,
        {
            "run_id": run_id,
            "objective": config.objective,
            "dataset_fingerprint": data.fingerprint,
            "test_fingerprint": data.part_fingerprints["test"],
            CONFIG_FINGERPRINT: config_fingerprint(config, tune_first),
            "feature_service": candidate.service,
            "test.ndcg_3": f"{candidate.reports['xgboost']['all']['ndcg_3']:.5f}",
        },
    )
    tracking.client.update_model_version(tracking.model_name, version, description=card)
