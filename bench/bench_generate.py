"""Time and peak memory of `smartstack generate` at a given scale.

Usage: .venv/bin/python bench/bench_generate.py --customers 100000 [--workers 2] [--out DIR]
Prints one JSON line; the figures in docs/benchmarks.md come from this script.
"""

from __future__ import annotations

import json
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from smartstack.datasets.synthetic.generator import GeneratorConfig, generate


def main(
    customers: Annotated[int, typer.Option(min=1)] = 100_000,
    seed: int = 42,
    workers: Annotated[int, typer.Option(min=1)] = 2,
    out: Annotated[
        Path | None, typer.Option(help="Keep the data here (default: temp, removed).")
    ] = None,
) -> None:
    target = out or Path(tempfile.mkdtemp(prefix="bench-generate-"))
    started = time.perf_counter()
    counts = generate(GeneratorConfig(customers=customers, seed=seed), target, workers=workers)
    seconds = time.perf_counter() - started
    # ru_maxrss is in KiB on Linux; children covers the worker processes (the largest of them).
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    size = sum(p.stat().st_size for p in target.rglob("*.parquet")) / 2**20
    print(
        json.dumps(
            {
                "customers": customers,
                "transactions": counts["transactions"],
                "impressions": counts["impressions"],
                "clickstream": counts["clickstream"],
                "workers": workers,
                "seconds": round(seconds, 1),
                "peak_rss_parent_mib": round(parent),
                "peak_rss_worker_mib": round(child),
                "parquet_mib": round(size),
            }
        )
    )
    if out is None:
        shutil.rmtree(target)


if __name__ == "__main__":
    typer.run(main)
