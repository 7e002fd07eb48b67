"""Time `smartstack dbt build` at 100,000 customers (~10 million transactions).

Generates the data set once (seed 42) under ``<home>/bench/data-100k`` and reuses it, then runs
a full-refresh build and an incremental build on an unchanged data set, each in a subprocess
exactly as a user or an Airflow task would, and prints one line with wall time and peak memory.
Peak memory is the largest resident set of any process in the build (dbt and its DuckDB), read
from the kernel's rusage of waited-for children.

    .venv/bin/python bench/bench_dbt.py [--customers 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from smartstack.settings import get_settings

SMARTSTACK = str(Path(sys.executable).parent / "smartstack")


def _run(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([SMARTSTACK, *args], env=env, check=True)
    return time.perf_counter() - started


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # KiB on Linux


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        models = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = models[0] if models else cpu
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    root = get_settings().home / "bench"
    data_dir = root / f"data-{args.customers // 1000}k"
    home = root / f"home-{args.customers // 1000}k"
    manifest = data_dir / "manifest.json"
    if not manifest.is_file() or json.loads(manifest.read_text())["config"]["customers"] != (
        args.customers
    ):
        _run(
            [
                "generate",
                "--customers",
                str(args.customers),
                "--seed",
                str(args.seed),
                "--out",
                str(data_dir),
            ],
            dict(os.environ),
        )
    rows = json.loads(manifest.read_text())["row_counts"]

    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSTACK_")}
    env.update(SMARTSTACK_HOME=str(home), SMARTSTACK_DATA_DIR=str(data_dir))
    (home / "warehouse.duckdb").unlink(missing_ok=True)
    full = _run(["dbt", "build", "--full-refresh"], env)
    full_peak = _peak_rss_gib()
    incremental = _run(["dbt", "build"], env)
    peak = _peak_rss_gib()
    print(
        f"dbt build, {args.customers:,} customers, {rows['transactions']:,} transactions, "
        f"{rows['impressions']:,} impressions: full refresh {full:.1f} s "
        f"(peak RSS {full_peak:.2f} GiB), incremental {incremental:.1f} s "
        f"(peak RSS over both {peak:.2f} GiB) on {_machine()}"
    )


if __name__ == "__main__":
    main()
