"""Models trained beside the registered one and logged in the same MLflow run.

A data set can define more than one target (:class:`smartstack.datasets.adapter.Target`) and a
demographic-only baseline (the features of one feature view). The registered model learns the
first target; this module trains, in the same run and on the same Feast training set and split:

- for the first target, the **demographic-only baseline** (same tree parameters, only the
  demographic view's features), reported as ``baseline.demographic.test.*``;
- for every other target (Starbucks B), its **own model** and its baselines (SmartScore,
  popularity, demographic-only), reported as ``<target>.test.*`` and
  ``<target>.baseline.<name>.test.*``.

Everything needed to score them again without retraining is logged under ``companions/``: each
target's spec, SmartScore's Platt coefficients, the popularity rates, the demographic feature
list, and the boosters (``<target>.ubj``, ``<target>_demographic.ubj``). ``smartstack
evaluate-dataset`` reads them back from the champion's run
(:mod:`smartstack.training.external`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from smartstack.datasets import active
from smartstack.datasets.adapter import Target
from smartstack.settings import Settings, TrainingSettings
from smartstack.training import plots
from smartstack.training.baselines import (
    Scored,
    popularity_baseline,
    popularity_rates,
    smartscore_baseline,
    smartscore_calibration,
)
from smartstack.training.dataset import TrainingData
from smartstack.training.evaluate import Report, evaluate_scores, flatten
from smartstack.training.train import TrainedModel, train

ARTIFACT_DIR = "companions"


@dataclass
class TargetRun:
    """One target's data, its model (None for the registered target) and baselines."""

    target: Target
    data: TrainingData
    model: TrainedModel | None
    demographic: TrainedModel | None
    smartscore_platt: tuple[float, float]
    popularity: dict[str, float]
    reports: dict[str, Report] = field(default_factory=dict)

    def baselines(self) -> dict[str, Scored]:
        """The baselines of this target's test period (the model is scored by the caller)."""
        data = self.data
        out = {
            "smartscore": smartscore_baseline(data, calibration=self.smartscore_platt),
            "popularity": popularity_baseline(data, 0.0, rates=self.popularity),
        }
        if self.demographic is not None:
            out["demographic"] = score_model(self.demographic, data)
        return out


@dataclass
class Companions:
    primary: TargetRun
    others: list[TargetRun]
    demographic_features: list[str]

    def primary_baselines(self) -> dict[str, Scored]:
        """The demographic-only baseline of the registered target, when the data set has one."""
        run = self.primary
        if run.demographic is None:
            return {}
        return {"demographic": score_model(run.demographic, run.data)}

    def metrics(self) -> dict[str, float]:
        """``<target>.test.*`` and ``<target>.baseline.<name>.test.*`` of the other targets."""
        out: dict[str, float] = {}
        for run in self.others:
            name = run.target.name
            out |= flatten(run.reports["xgboost"], f"{name}.test")
            for baseline, report in run.reports.items():
                if baseline != "xgboost":
                    out |= flatten(report, f"{name}.baseline.{baseline}.test")
        return out

    def write(self, out: Path) -> None:
        """The ``companions/`` artifacts: specs, coefficients, rates, boosters and plots."""
        folder = out / ARTIFACT_DIR
        folder.mkdir(parents=True, exist_ok=True)
        for run in (self.primary, *self.others):
            name = run.target.name
            spec = {
                "target": asdict(run.target),
                "registered": run is self.primary,
                "features": run.data.features,
                "demographic_features": self.demographic_features,
                "smartscore_platt": list(run.smartscore_platt),
                "popularity_rates": run.popularity,
                "boundaries": run.data.boundaries,
                "counts": run.data.counts(),
            }
            (folder / f"{name}.json").write_text(json.dumps(spec, indent=1))
            if run.demographic is not None:
                run.demographic.booster.save_model(folder / f"{name}_demographic.ubj")
            if run.model is not None:
                run.model.booster.save_model(folder / f"{name}.ubj")
                (folder / f"{name}_test_metrics.json").write_text(
                    json.dumps(run.reports, indent=1)
                )
                gain = plots.feature_importance(
                    run.model.booster, folder / f"{name}_feature_importance.png"
                )
                (folder / f"{name}_feature_importance.json").write_text(json.dumps(gain, indent=1))
                curves = {"xgboost": score_model(run.model, run.data), **run.baselines()}
                plots.calibration(
                    run.data.labels("test"), curves, folder / f"{name}_calibration.png"
                )


def score_model(model: TrainedModel, data: TrainingData, part: str = "test") -> Scored:
    """A trained model (or baseline) on ``part``, with its own feature list."""
    matrix = data.matrix(part, model.features)
    return Scored(model.margin(matrix), model.proba(matrix))


def demographic_feature_names(settings: Settings) -> list[str]:
    """The service's features that come from the data set's demographic view (none if it has
    no such view)."""
    from smartstack.featurestore import store

    view = active(settings).demographic_view
    if view is None:
        return []
    service = store.feature_service(settings)
    return [f.name for p in service.feature_view_projections if p.name == view for f in p.features]


def _target_run(
    data: TrainingData,
    config: TrainingSettings,
    demographic: list[str],
    model: TrainedModel | None,
) -> TargetRun:
    return TargetRun(
        target=data.target,
        data=data,
        model=model,
        demographic=train(replace(data, features=demographic), config) if demographic else None,
        smartscore_platt=smartscore_calibration(data),
        popularity=popularity_rates(data, config.popularity_prior_weight),
    )


def train_companions(
    data: TrainingData, config: TrainingSettings, settings: Settings
) -> Companions:
    """The demographic baseline of ``data``'s target, and a model per other target."""
    dataset = active(settings)
    demographic = demographic_feature_names(settings)
    primary = _target_run(data, config, demographic, model=None)
    others = []
    for target in dataset.targets[1:]:
        restricted = data.restricted(target)
        model = train(restricted, config)
        run = _target_run(restricted, config, demographic, model)
        run.reports = {"xgboost": evaluate_scores(restricted, score_model(model, restricted))}
        run.reports |= {
            name: evaluate_scores(restricted, scored) for name, scored in run.baselines().items()
        }
        others.append(run)
    return Companions(primary, others, demographic)
