"""Readouts and estimates as MLflow runs: figures as metrics, the table as JSON, a plot, and the
verdict as a tag, in the ``experiments.tracking_experiment`` experiment."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no screen: files only
import matplotlib.pyplot as plt  # noqa: E402

from smartstack.evaluation.offpolicy import RankerEstimates  # noqa: E402
from smartstack.settings import Settings  # noqa: E402


def estimates_table(rankers: list[RankerEstimates]) -> list[dict[str, Any]]:
    return [
        {
            "ranker": r.ranker,
            "version": r.version,
            "matched": r.matched,
            "estimator": name,
            "value": e.value,
            "low": e.low,
            "high": e.high,
            "requests": e.requests,
        }
        for r in rankers
        for name, e in r.estimates.items()
    ]


def plot_estimates(rankers: list[RankerEstimates], title: str, path: Path) -> Path:
    """Each ranker's estimates with their intervals, one column per estimator."""
    estimators = list(rankers[0].estimates) if rankers else []
    figure, axes = plt.subplots(1, max(1, len(estimators)), figsize=(4 * len(estimators), 3.2))
    axes = axes if hasattr(axes, "__len__") else [axes]
    for axis, estimator in zip(axes, estimators, strict=False):
        values = [r.estimates[estimator] for r in rankers]
        y = range(len(rankers))
        axis.errorbar(
            [v.value for v in values],
            y,
            xerr=[[v.value - v.low for v in values], [v.high - v.value for v in values]],
            fmt="o",
            capsize=4,
        )
        axis.set_yticks(list(y), [r.ranker for r in rankers])
        axis.set_title(estimator.upper())
        axis.grid(axis="x", alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def log_run(
    settings: Settings,
    name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tables: Mapping[str, Any],
    tags: Mapping[str, str],
    plots: Mapping[str, Any] | None = None,
) -> str:
    """One MLflow run; returns its id. ``plots`` maps a file name to a function that writes
    the plot to the path it is given."""
    import mlflow

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(settings.experiments.tracking_experiment)
    with mlflow.start_run(run_name=name) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(dict(params))
        mlflow.log_metrics(dict(metrics))
        mlflow.set_tags(dict(tags))
        for file, content in tables.items():
            path = Path(tmp) / file
            path.write_text(json.dumps(content, indent=2, default=str))
            mlflow.log_artifact(str(path))
        for file, draw in (plots or {}).items():
            mlflow.log_artifact(str(draw(Path(tmp) / file)))
        return run.info.run_id
