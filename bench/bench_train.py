"""Training at scale: time and peak memory of each step of `smartstack train`.

Usage:
  .venv/bin/python bench/bench_train.py [--objective binary] [--nthread 2]

Reads the active settings (set SMARTSTACK_HOME to a scratch home holding
`smartstack generate --customers N` + `smartstack dbt build` + `smartstack feast apply`).
Steps timed: the Feast training set (point-in-time retrieval of the feature service), the time
split and fingerprint, then one full training run (XGBoost with early stopping, baselines,
metrics, plots, MLflow logging and registration). Peak memory is the process's maximum resident
set size after each step (ru_maxrss, monotone). Prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import time
from typing import Annotated

import typer


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(
    objective: Annotated[str, typer.Option(help="binary or rank")] = "binary",
    nthread: Annotated[int, typer.Option(min=1)] = 2,
) -> None:
    from smartstack.settings import get_settings
    from smartstack.training import dataset
    from smartstack.training.job import run_training

    settings = get_settings()
    config = settings.training.with_overrides(objective=objective, nthread=nthread)
    out: dict = {"objective": objective, "nthread": nthread}

    started = time.perf_counter()
    frame, features = dataset.load_frame(settings)
    out["feast_training_set_s"] = round(time.perf_counter() - started, 1)
    out["rows"] = len(frame)
    out["features"] = len(features)
    out["peak_rss_after_feast_mib"] = round(_peak_mib())
    out["frame_mib"] = round(frame.memory_usage(deep=True).sum() / 2**20)

    started = time.perf_counter()
    data = dataset.build(settings, config.split, frame=frame, features=features)
    del frame
    out["split_fingerprint_s"] = round(time.perf_counter() - started, 1)
    out |= data.counts()
    out["peak_rss_after_split_mib"] = round(_peak_mib())

    started = time.perf_counter()
    result = run_training(config, settings, data=data, run_name=f"bench-{objective}")
    out["training_run_s"] = round(time.perf_counter() - started, 1)
    out["xgboost_fit_s"] = round(result.model.seconds, 1)
    out["trees"] = result.model.best_iteration + 1
    out["peak_rss_mib"] = round(_peak_mib())
    out |= {
        f"test_{name}_ndcg_3": round(r["all"]["ndcg_3"], 4) for name, r in result.reports.items()
    }
    out["version"] = result.version
    print(json.dumps(out))


if __name__ == "__main__":
    typer.run(main)
