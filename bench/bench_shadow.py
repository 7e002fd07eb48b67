"""What shadow mode and exploration cost ``POST /rank``: p50 and p99 with each on and off, in
the same run on the same service build, home and load.

    .venv/bin/python bench/bench_shadow.py

Uses ``bench/bench_serving.py``'s home (a data set, a champion of 300 trees of depth 6) and adds
a challenger of the same size (another seed) under the ``challenger`` alias. Then, for each
experiments file, one ``bentoml serve`` worker (SQLite online store) gets a warm-up, a fixed
arrival rate from k6 (open loop, ``--rate`` requests/s) and back-to-back requests from wrk
(one connection); the configurations take turns for ``--rounds`` rounds, so drift in the
machine's load spreads over all of them. Figures are the medians over rounds; the ratio is to
``off`` in the same round. Results go to ``<home>/bench_shadow.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path

import httpx
import yaml
from bench_serving import (
    CLIENT_CORES,
    ROOT,
    SERVER_CORES,
    TIMESTAMP,
    bentoml_serve,
    candidate_offers,
    customer_ids,
    ensure_data,
    ensure_model,
    free_port,
    k6,
    rank_body,
    service_authorization,
    wrk,
)

CONFIGURATIONS: dict[str, dict] = {
    "off": {},
    "shadow 10%": {"shadow": {"ranker": "challenger", "share": 0.1}},
    "shadow 100%": {"shadow": {"ranker": "challenger", "share": 1.0}},
    "exploration": {"exploration": {"temperature": 1.0}},
}


def ensure_challenger(settings: object) -> str:
    """A second model of the champion's size under the ``challenger`` alias."""
    import mlflow
    import xgboost as xgb
    from mlflow.tracking import MlflowClient

    from smartstack.featurestore import store

    uri = settings.mlflow_tracking_uri  # type: ignore[attr-defined]
    name = settings.registered_model_name  # type: ignore[attr-defined]
    client = MlflowClient(uri, uri)
    champion = client.get_model_version_by_alias(name, "champion").version
    try:
        version = client.get_model_version_by_alias(name, "challenger").version
        if version != champion:
            return version
    except Exception:
        pass
    frame = store.training_set(settings)
    names = store.model_feature_names(settings)
    model = xgb.XGBClassifier(
        n_estimators=300, max_depth=6, n_jobs=2, subsample=0.8, random_state=7
    )
    model.fit(frame[names].astype(float), frame["redeemed"].astype(int))
    experiment = client.get_experiment_by_name("bench-serving")
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment("bench-serving", settings.mlflow_artifact_root.as_uri())  # type: ignore[attr-defined]
    )
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.xgboost.log_model(model, name="model", registered_model_name=name)
    version = str(info.registered_model_version)
    client.set_registered_model_alias(name, "challenger", version)
    return version


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path, default=ROOT / "var" / "bench" / "serving")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=20, help="per load level")
    parser.add_argument("--rate", type=int, default=100, help="fixed arrival rate, requests/s")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    if cores >= 2 and shutil.which("taskset"):
        SERVER_CORES.extend(["taskset", "-c", f"0-{cores - 2}"])
        CLIENT_CORES.extend(["taskset", "-c", str(cores - 1)])
    home = args.home.resolve()
    os.environ["SMARTSTACK_HOME"] = str(home)

    from smartstack.settings import Settings

    ensure_data(home, args.customers)
    settings = Settings(home=home)
    ensure_model(settings)
    ensure_challenger(settings)
    offers = candidate_offers(settings)
    customers = customer_ids(settings)
    work = Path(tempfile.mkdtemp(prefix="bench-shadow-"))
    (work / "customers.txt").write_text("\n".join(customers))
    authorization = service_authorization(settings)
    load_env = {
        **os.environ,
        "BENCH_CUSTOMERS": str(work / "customers.txt"),
        "BENCH_OFFERS": ",".join(offers),
        "BENCH_TIMESTAMP": TIMESTAMP,
        "BENCH_AUTHORIZATION": authorization,
    }
    rows: list[dict] = []
    for round_ in range(1, args.rounds + 1):
        for name, plan in CONFIGURATIONS.items():
            experiments = work / f"experiments-{len(rows)}.yaml"
            experiments.write_text(yaml.safe_dump({"version": 1, **plan}))
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            env = {
                **os.environ,
                "SMARTSTACK_HOME": str(home),
                "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
                "SMARTSTACK_SERVING_FREQUENCY_CAP": "1000000",
                "SMARTSTACK_EXPERIMENTS_FILE": str(experiments),
                "SMARTSTACK_EXPERIMENTS_SHADOW_DIR": str(work / f"shadow-{len(rows)}"),
                "BENTOML_HOME": str(work / f"bentoml-{len(rows)}"),
            }
            with bentoml_serve(
                "serving.service:RankingService", port, work / "ours.log", ROOT, env
            ):
                answer = httpx.post(
                    f"{url}/rank",
                    json=rank_body(customers[0], offers),
                    headers={"Authorization": authorization},
                ).json()
                assert answer["tier"] == "model", answer
                k6(url, 5, work, load_env, vus=4)  # warm-up, not recorded
                fixed = k6(url, args.seconds, work, load_env, rate=args.rate)
                back_to_back = wrk(url, 1, args.seconds, work, load_env)
            shadowed = sum(1 for _ in (work / f"shadow-{len(rows)}").rglob("*.parquet"))
            rows.append(
                {
                    "round": round_,
                    "configuration": name,
                    f"p50_ms_{args.rate}rps": fixed["p50_ms"],
                    f"p99_ms_{args.rate}rps": fixed["p99_ms"],
                    "failures": fixed["failures"] + back_to_back["failures"],
                    "p50_ms_c1": back_to_back["p50_ms"],
                    "p99_ms_c1": back_to_back["p99_ms"],
                    "rps_c1": back_to_back["throughput_rps"],
                    "shadow_parts": shadowed,
                }
            )
            print(rows[-1], flush=True)
    (home / "bench_shadow.json").write_text(json.dumps(rows, indent=2))
    rate = args.rate
    print(
        f"\n| configuration | p50 @ {rate}/s (ms) | p99 @ {rate}/s (ms) | p50 back to back (ms) | "
        "p99 back to back (ms) | req/s back to back | p50 vs off (back to back) | failures |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    off = [r for r in rows if r["configuration"] == "off"]
    for name in CONFIGURATIONS:
        mine = [r for r in rows if r["configuration"] == name]
        ratios = [m["p50_ms_c1"] / o["p50_ms_c1"] for m, o in zip(mine, off, strict=True)]

        def median(key: str, these: list[dict] = mine) -> float:
            return round(statistics.median(r[key] for r in these), 2)

        print(
            f"| {name} | {median(f'p50_ms_{rate}rps')} | {median(f'p99_ms_{rate}rps')} | "
            f"{median('p50_ms_c1')} | {median('p99_ms_c1')} | {median('rps_c1')} | "
            f"{statistics.median(ratios):.3f} | {sum(r['failures'] for r in mine)} |"
        )


if __name__ == "__main__":
    main()
