"""Experiments checked against the truth: off-policy estimates beside each ranker's true value,
and how many impressions interleaving and an A/B test need to pick the truly better ranker.

    .venv/bin/python bench/bench_experiments.py

1. A synthetic home under ``--home`` (``smartstack run``; reused when present) whose champion
   the pipeline trained, and a challenger of another kind (XGBoost, 300 trees of depth 6,
   another seed) under the ``challenger`` alias.
2. The generator's own uniform-random logs: ``--folds`` disjoint samples of ``--requests``
   requests; per fold and ranker (champion, challenger, SmartScore), the IPS, SNIPS and DR
   estimates of the click rate in the top 3 with 95% intervals, and the true value of the
   ranker's lists from the hidden model. Coverage = the share of folds whose interval holds
   the truth.
3. Simulated logs: a real ``bentoml serve`` with exploration on (Plackett–Luce, temperature
   ``--temperature``); per fold, the simulator sends ``--requests`` requests through it and
   draws clicks from the hidden model; the same table on those rankings.
4. Interleaving against A/B, champion against SmartScore, through the same service: for each
   of ``--seeds`` seeds, the impressions after which the test (interleaving: the preference
   test; A/B: a two-proportion z-test on clicks in the top 3) first says p < 0.05 and keeps
   saying it to the end of ``--budget`` impressions, and whether it names the truly better.

Prints Markdown tables; writes ``<home>/bench_experiments.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from bench_serving import ROOT, bentoml_serve, ensure_data, free_port
from bench_shadow import ensure_challenger
from scipy.stats import norm

RANKERS = ["champion", "challenger", "smartscore"]
K = 3


def fold_table(rows: list[dict]) -> list[dict]:
    """Per ranker and estimator: mean estimate, mean truth, coverage, mean interval width."""
    frame = pd.DataFrame(rows)
    out = []
    for (ranker, estimator), group in frame.groupby(["ranker", "estimator"], sort=False):
        out.append(
            {
                "ranker": ranker,
                "estimator": estimator,
                "true": round(group["true"].mean(), 4),
                "estimate": round(group["value"].mean(), 4),
                "covered": f"{int(group['covered'].sum())}/{len(group)}",
                "width": round((group["high"] - group["low"]).mean(), 4),
            }
        )
    return out


def judge(settings: object, slots: object, truth: object, fold: int) -> list[dict]:
    from smartstack.evaluation.job import evaluate_slots
    from smartstack.evaluation.truth import true_click_rate

    evaluation = evaluate_slots(settings, slots, RANKERS, seed=fold, resamples=1000)
    requests = evaluation.slots.frame.drop_duplicates("request_id")[
        ["request_id", "customer_id", "request_timestamp", "channel"]
    ]
    rows = []
    for ranker in evaluation.rankers:
        true = true_click_rate(truth, requests, evaluation.targets[ranker.ranker])
        for name, e in ranker.estimates.items():
            rows.append(
                {
                    "fold": fold,
                    "ranker": ranker.ranker,
                    "estimator": name,
                    "value": e.value,
                    "low": e.low,
                    "high": e.high,
                    "true": true,
                    "covered": bool(e.low <= true <= e.high),
                }
            )
    return rows


def save(home: Path, results: dict) -> None:
    """What is measured so far (a part at a time, so a cut run keeps its finished parts)."""
    (home / "bench_experiments.json").write_text(json.dumps(results, indent=2, default=str))


def first_significant(p_values: list[tuple[int, float]]) -> int | None:
    """The first checkpoint from which every later p-value stays below 0.05."""
    found = None
    for n, p in p_values:
        if p < 0.05:
            found = found or n
        else:
            found = None
    return found


def ab_p_values(frame: pd.DataFrame, checkpoints: list[int]) -> list[tuple[int, float, str]]:
    """Two-proportion z-test on clicks per shown slot, arm 'model' against 'rules'."""
    out = []
    for n in checkpoints:
        part = frame[frame["order"] < n]
        rates = part.groupby("arm")["clicked"].agg(["sum", "size"])
        if set(rates.index) != {"model", "rules"}:
            continue
        x1, n1 = rates.loc["model"]
        x2, n2 = rates.loc["rules"]
        pooled = (x1 + x2) / (n1 + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (x1 / n1 - x2 / n2) / se if se > 0 else 0.0
        out.append((n, float(2 * norm.sf(abs(z))), "model" if z > 0 else "rules"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path, default=ROOT / "var" / "bench" / "experiments")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=2000, help="per fold")
    parser.add_argument("--temperature", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=6000, help="impressions per comparison")
    args = parser.parse_args()
    home = args.home.resolve()
    os.environ["SMARTSTACK_HOME"] = str(home)

    from smartstack.datasets.synthetic.truth import HiddenUtility
    from smartstack.evaluation.logs import LoggedSlots, generator_slots, service_slots
    from smartstack.evaluation.simulate import Simulator, plan
    from smartstack.experiments.interleaving import credit, preference_test
    from smartstack.featurestore.store import snapshot_time
    from smartstack.settings import Settings

    ensure_data(home, args.customers)
    settings = Settings(home=home)
    ensure_challenger(settings)
    truth = HiddenUtility.from_data(settings.data_dir)
    results: dict[str, object] = {}

    # 2. The generator's uniform-random logs.
    everything = generator_slots(settings, K, max_requests=args.folds * args.requests, seed=0)
    ids = everything.frame["request_id"].drop_duplicates().to_numpy()
    fold_of = dict(zip(ids, np.arange(len(ids)) % args.folds, strict=True))
    rows = []
    for fold in range(args.folds):
        mine = everything.frame[everything.frame["request_id"].map(fold_of) == fold]
        rows += judge(
            settings, LoggedSlots(mine.reset_index(drop=True), "generator", K), truth, fold
        )
        print(f"generator fold {fold}: done", flush=True)
    results["generator"] = fold_table(rows)
    save(home, results)

    # 3 and 4. Through the real service.
    work = Path(tempfile.mkdtemp(prefix="bench-experiments-"))
    token = settings.auth.service_token.get_secret_value()
    snapshot = snapshot_time(settings)
    customers = truth.customer_ids()

    def served(plan_: dict, name: str, seed: int, count: int) -> tuple[Settings, pd.DataFrame]:
        experiments = work / f"{name}.yaml"
        experiments.write_text(yaml.safe_dump({"version": 1, **plan_}))
        log_dir = work / f"{name}-log"
        env = {
            **os.environ,
            "SMARTSTACK_HOME": str(home),
            "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
            "SMARTSTACK_SERVING_FREQUENCY_CAP": "1000000",
            "SMARTSTACK_SERVING_SNAPSHOT_DIR": str(log_dir),
            "SMARTSTACK_SERVING_SNAPSHOT_FLUSH_SECONDS": "0.5",
            "SMARTSTACK_EXPERIMENTS_FILE": str(experiments),
            "SMARTSTACK_EXPERIMENTS_SEED": str(seed),
            "BENTOML_HOME": str(work / f"bentoml-{name}"),
        }
        port = free_port()
        with bentoml_serve("serving.service:RankingService", port, work / f"{name}.log", ROOT, env):
            requests = plan(customers, count, snapshot, timedelta(days=2), seed)
            simulator = Simulator(f"http://127.0.0.1:{port}", token, truth, K, seed, workers=4)
            result = simulator.run(requests)
        time.sleep(1.5)  # the ranking log's last flush
        assert result.refused == 0, result
        return settings.model_copy(
            update={"serving": settings.serving.model_copy(update={"snapshot_dir": log_dir})}
        ), result.served

    rows = []
    for fold in range(args.folds):
        explore = {"exploration": {"temperature": args.temperature}}
        fold_settings, _ = served(explore, f"explore-{fold}", fold, args.requests)
        slots = service_slots(fold_settings, K)
        rows += judge(fold_settings, slots, truth, fold)
        print(f"simulated fold {fold}: done", flush=True)
    results["simulated"] = fold_table(rows)
    save(home, results)

    window = {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}
    arms = [
        {"name": "model", "ranker": "champion", "share": 0.5},
        {"name": "rules", "ranker": "smartscore", "share": 0.5},
    ]
    checkpoints = list(range(100, args.budget + 1, 100))
    comparisons = []
    for seed in range(args.seeds):
        il = {"experiments": [{"name": "il", "kind": "interleaving", "salt": f"il-{seed}",
                               **window, "arms": arms}]}  # fmt: skip
        il_settings, il_served = served(il, f"il-{seed}", 100 + seed, args.budget)
        log = pd.read_parquet(il_settings.serving.snapshot_dir)
        log = log[log["rank"] <= K].merge(
            il_served[["request_id", "offer_id", "clicked"]], on=["request_id", "offer_id"]
        )
        order = {r: i for i, r in enumerate(il_served["request_id"].drop_duplicates())}
        outcomes = []
        for request_id, group in log.groupby("request_id"):
            teams = group.sort_values("rank")["team"].map({"model": "a", "rules": "b"})
            outcomes.append((order[request_id], credit(list(teams), list(group["clicked"]))))
        outcomes.sort()
        il_p = []
        for n in checkpoints:
            test = preference_test([o for i, o in outcomes if i < n])
            il_p.append((n, test.p_value, {"a": "model", "b": "rules", None: "-"}[test.preferred]))
        ab = {"experiments": [{"name": "ab", "salt": f"ab-{seed}", **window, "arms": arms}]}
        ab_settings, ab_served = served(ab, f"ab-{seed}", 200 + seed, args.budget)
        log = pd.read_parquet(ab_settings.serving.snapshot_dir)[
            ["request_id", "arm"]
        ].drop_duplicates()
        frame = ab_served.merge(log, on="request_id")
        order = {r: i for i, r in enumerate(ab_served["request_id"].drop_duplicates())}
        frame["order"] = frame["request_id"].map(order)
        ab_p = ab_p_values(frame, checkpoints)
        comparisons.append(
            {
                "seed": seed,
                "interleaving_impressions": first_significant([(n, p) for n, p, _ in il_p]),
                "interleaving_picks": il_p[-1][2],
                "ab_impressions": first_significant([(n, p) for n, p, _ in ab_p]),
                "ab_picks": ab_p[-1][2] if ab_p else "-",
            }
        )
        print(comparisons[-1], flush=True)
    results["comparisons"] = comparisons
    save(home, results)

    for source in ("generator", "simulated"):
        print(f"\n{source} logs ({args.folds} folds of {args.requests} requests)\n")
        print("| ranker | estimator | true value | mean estimate | covered | mean 95% width |")
        print("|---|---|---:|---:|---:|---:|")
        for r in results[source]:  # type: ignore[union-attr]
            print(
                f"| {r['ranker']} | {r['estimator']} | {r['true']} | {r['estimate']} | "
                f"{r['covered']} | {r['width']} |"
            )
    print("\n| seed | interleaving: impressions to p < 0.05 | picks | A/B: impressions | picks |")
    print("|---:|---:|---|---:|---|")
    for c in comparisons:
        print(
            f"| {c['seed']} | {c['interleaving_impressions']} | {c['interleaving_picks']} | "
            f"{c['ab_impressions']} | {c['ab_picks']} |"
        )


if __name__ == "__main__":
    main()
