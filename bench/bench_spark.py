"""The pipeline's batch steps on DuckDB and on Spark ``local[N]``, side by side in one run.

One landed data set, copied into a home per warehouse; in each, the steps from ``dbt_build``
to ``train`` run as their ``smartstack`` commands (``smartstack.pipeline.STEPS``), the DuckDB
home first, then the same steps with ``SMARTSTACK_WAREHOUSE=spark``. Each step's wall time and
its process tree's peak resident memory, sampled every 0.2 s (Spark's JVM is a child the step
never waits for, so the kernel's rusage would miss it), and the trained model's test NDCG@3.

    .venv/bin/python bench/bench_spark.py --data-dir var/bench10k/data [--master 'local[2]']
        [--driver-memory 4g]

``--data-dir`` holds a landed data set (``smartstack generate`` then ``ingest --source landed``).
The table it prints is the one in ``docs/benchmarks.md`` ("Spark").
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from mlflow import MlflowClient

from smartstack.pipeline import PARAMETERS, STEPS
from smartstack.settings import Settings
from smartstack.training import registry

SMARTSTACK = str(Path(sys.executable).parent / "smartstack")
MEASURED = ("dbt_build", "feature_quality_gate", "feast_apply", "feast_materialize", "train")


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def run(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """``smartstack argv``: seconds, peak GiB of its process tree, exit code."""
    peak = 0
    with log.open("a") as out:
        out.write(f"\n=== smartstack {' '.join(argv)}\n")
        out.flush()
        started = time.perf_counter()
        process = subprocess.Popen([SMARTSTACK, *argv], env=env, stdout=out, stderr=out)
        watched = psutil.Process(process.pid)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.2):
                try:
                    peak = max(peak, _tree_rss(watched))
                except psutil.NoSuchProcess:
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    return seconds, peak / 1024**3, code


def test_ndcg(home: Path, warehouse: str) -> float:
    settings = Settings(home=home, warehouse=warehouse)
    tracking = registry.configure(settings, settings.training.experiment)
    client = MlflowClient(tracking_uri=registry.tracking_uri(settings))
    runs = client.search_runs([tracking.experiment_id], order_by=["attributes.start_time DESC"])
    return runs[0].data.metrics["test.ndcg_3"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g",
                        help="spark_driver_memory: the training set's chunks grow with it")
    parser.add_argument("--work", type=Path, help="where the homes go (default: a temp folder)")
    parser.add_argument("--log", type=Path, default=Path("bench_spark.log"))
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-spark-"))
    steps = {step.name: step for step in STEPS}
    base = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSTACK_")}
    results: dict[str, dict[str, tuple[float, float, int]]] = {}
    print(f"load average before: {os.getloadavg()}", flush=True)
    for warehouse in ("duckdb", "spark"):
        home = work / warehouse
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(args.data_dir, home / "data", ignore=shutil.ignore_patterns("features"))
        env = {**base, "SMARTSTACK_HOME": str(home), "SMARTSTACK_WAREHOUSE": warehouse,
               "SMARTSTACK_SPARK_MASTER": args.master,
               "SMARTSTACK_SPARK_DRIVER_MEMORY": args.driver_memory}
        results[warehouse] = {}
        for name in MEASURED:
            argv = steps[name].argv(PARAMETERS)
            seconds, peak, code = run(argv, env, args.log)
            results[warehouse][name] = (seconds, peak, code)
            print(f"{warehouse:<7} {name:<20} {seconds:8.1f} s {peak:6.2f} GiB exit {code}",
                  flush=True)
            if code != 0:
                raise SystemExit(f"{warehouse} {name} failed: see {args.log}")
    print(f"load average after: {os.getloadavg()}")
    ndcg = {warehouse: test_ndcg(work / warehouse, warehouse) for warehouse in results}
    print(f"\n| step | DuckDB, single-node XGBoost | Spark {args.master} | Spark / DuckDB |")
    print("|---|---:|---:|---:|")
    for name in MEASURED:
        (local, local_peak, _), (spark, spark_peak, _) = (results[w][name] for w in results)
        print(f"| `{name}` | {local:.1f} s, {local_peak:.2f} GiB | {spark:.1f} s, "
              f"{spark_peak:.2f} GiB | {spark / local:.2f} |")
    print(f"| test NDCG@3 | {ndcg['duckdb']:.4f} | {ndcg['spark']:.4f} | "
          f"{ndcg['spark'] - ndcg['duckdb']:+.4f} |")


if __name__ == "__main__":
    main()
