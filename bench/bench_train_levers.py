"""Training levers at scale: fit time, trees, peak memory and test NDCG@3 of several XGBoost
configurations on one training set, in one run.

Usage:
  .venv/bin/python bench/bench_train_levers.py --levers today,eta0.15,eta0.15-bins64 \
      [--frame-cache var/bench/train-frame.parquet]

Reads the active settings (a scratch SMARTSTACK_HOME with `smartstack generate`, `dbt build`
and `feast apply` done). The training set is retrieved once (timed; `--frame-cache` keeps it as
Parquet for the next run) and every lever is fitted on the same split, one after the other, so
the ratios between them hold on a shared machine; the first lever is the one the others are
compared with. `today` is `training/params.yaml` as it is.
Prints one JSON line per lever and a Markdown table.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

# Each lever: overrides of the training section (top-level keys) and of its `xgboost` params.
LEVERS: dict[str, dict[str, Any]] = {
    "today": {},
    # Today's parameters cut at 200 trees: the cost per tree where a full fit takes too long.
    "today-200": {"num_boost_round": 200},
    "eta0.1": {"xgboost": {"eta": 0.1}},
    "eta0.15": {"xgboost": {"eta": 0.15}},
    "eta0.2": {"xgboost": {"eta": 0.2}},
    "eta0.15-bins64": {"xgboost": {"eta": 0.15, "max_bin": 64}},
    "eta0.2-bins64": {"xgboost": {"eta": 0.2, "max_bin": 64}},
    "eta0.15-stop20": {"xgboost": {"eta": 0.15}, "early_stopping_rounds": 20},
    "eta0.2-stop20": {"xgboost": {"eta": 0.2}, "early_stopping_rounds": 20},
    "eta0.2-bins64-stop20": {"xgboost": {"eta": 0.2, "max_bin": 64}, "early_stopping_rounds": 20},
}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load(settings, frame_cache: Path | None):
    from smartstack.training import dataset

    if frame_cache is not None and frame_cache.exists():
        from smartstack.featurestore import store

        return pd.read_parquet(frame_cache), store.model_feature_names(settings), 0.0
    started = time.perf_counter()
    frame, features = dataset.load_frame(settings)
    seconds = time.perf_counter() - started
    if frame_cache is not None:
        frame_cache.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(frame_cache)
    return frame, features, seconds


def main(
    levers: Annotated[str, typer.Option(help=f"comma-separated, of: {', '.join(LEVERS)}")] = (
        "today,eta0.15"
    ),
    frame_cache: Annotated[Path | None, typer.Option(help="Parquet copy of the training set")] = (
        None
    ),
) -> None:
    from smartstack.settings import get_settings
    from smartstack.training import dataset
    from smartstack.training.evaluate import evaluate_booster
    from smartstack.training.train import train

    names = [name.strip() for name in levers.split(",") if name.strip()]
    unknown = [name for name in names if name not in LEVERS]
    if unknown:
        raise typer.BadParameter(f"unknown lever(s) {unknown}; known: {list(LEVERS)}")
    settings = get_settings()
    frame, features, retrieval_s = _load(settings, frame_cache)
    print(json.dumps({"training_set_s": round(retrieval_s, 1), "rows": len(frame)}), flush=True)
    data = dataset.build(settings, settings.training.split, frame=frame, features=features)
    del frame
    rows = []
    for name in names:
        lever = LEVERS[name]
        base = settings.training.model_dump()
        changes = {k: v for k, v in lever.items() if k != "xgboost"}
        changes["xgboost"] = {**base["xgboost"], **lever.get("xgboost", {})}
        config = settings.training.with_overrides(**changes)
        model = train(data, config)
        report = evaluate_booster(model.booster, data)
        row = {
            "lever": name,
            "fit_s": round(model.seconds, 1),
            "trees": model.best_iteration + 1,
            "s_per_tree": round(model.seconds / (model.best_iteration + 1), 3),
            "test_ndcg_3": round(report["all"]["ndcg_3"], 4),
            "test_ndcg_3_rel": round(report["all"]["ndcg_3_rel"], 4),
            "test_auc": round(report["all"]["auc"], 4),
            "peak_rss_mib": round(_peak_mib()),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    first = rows[0]
    print(
        "\n| lever | fit | trees | s/tree | NDCG@3 | Δ | NDCG@3 rel 0..3 | Δ | AUC | fit / first |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['lever']} | {r['fit_s']} s | {r['trees']} | {r['s_per_tree']} | "
            f"{r['test_ndcg_3']:.4f} | {r['test_ndcg_3'] - first['test_ndcg_3']:+.4f} | "
            f"{r['test_ndcg_3_rel']:.4f} | {r['test_ndcg_3_rel'] - first['test_ndcg_3_rel']:+.4f} | "
            f"{r['test_auc']:.4f} | {r['fit_s'] / first['fit_s']:.2f} |"
        )


if __name__ == "__main__":
    typer.run(main)
