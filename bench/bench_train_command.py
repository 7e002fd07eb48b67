"""`smartstack train` as a user runs it: wall time and peak RSS, for the working tree and
another commit, alternated.

Usage:
  export SMARTSTACK_HOME=/work/var100k   # generate --customers 100000, ingest, dbt build, feast apply
  .venv/bin/python bench/bench_train_command.py --before 3938182 [--rounds 2]

The other commit runs from a worktree (``var/bench/train-<rev>``) on the same environment, its
``src`` first on ``PYTHONPATH``; both run with ``-O``, as the stack runs its steps. The peak RSS
is the kernel's own account of the process (``os.wait4``), so nothing samples it. Each run
registers a challenger in the home's MLflow registry; its output gives the trees and the fit's
seconds. Prints one JSON line per run and a Markdown table: each working-tree run's ratio to
the run of the other commit just before it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

REPO = Path(__file__).resolve().parents[1]
SMARTSTACK = Path(sys.executable).parent / "smartstack"
CHALLENGER = re.compile(r"as challenger \(run \w+, (\d+)\s+trees, (\d+)s\)")


def _commit(rev: str) -> str:
    """``rev``'s short hash: a worktree named after a branch or ``HEAD`` would go stale."""
    return subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _worktree(rev: str) -> Path:
    path = REPO / "var" / "bench" / f"train-{rev}"
    if not path.exists():
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), rev], check=True
        )
    return path


def _run(label: str, src: Path | None, log: Path) -> dict:
    env = os.environ | {"PYTHONOPTIMIZE": "1"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-O", str(SMARTSTACK), "train"], env=env, stdout=out, stderr=out
        )
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    found = CHALLENGER.search(" ".join(log.read_text().split()))
    return {
        "run": label,
        "returncode": os.waitstatus_to_exitcode(status),
        "wall_s": round(wall, 1),
        "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2),  # KiB on Linux
        "trees": int(found.group(1)) if found else None,
        "fit_s": int(found.group(2)) if found else None,
        "load_before": round(load, 2),
        "log": str(log),
    }


def main(
    before: Annotated[str, typer.Option(help="The commit to compare the working tree with.")],
    rounds: Annotated[int, typer.Option(min=1, help="Pairs of runs, alternated.")] = 2,
) -> None:
    logs = REPO / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    before = _commit(before)
    sides = [(before, _worktree(before) / "src"), ("working tree", None)]
    results = []
    for round_ in range(1, rounds + 1):
        for label, src in sides:
            log = logs / f"train-command-{round_}-{'before' if src else 'after'}.log"
            result = _run(label, src, log) | {"round": round_}
            print(json.dumps(result), flush=True)
            results.append(result)
    print("\n| round | run | wall | peak RSS | fit (trees) | load before |")
    print("|---|---|---:|---:|---:|---|")
    for i, r in enumerate(results):
        first = results[i - 1] if i % 2 else None
        wall, peak = f"{r['wall_s']} s", f"{r['peak_rss_gib']} GiB"
        if first is not None:
            wall += f" ({r['wall_s'] / first['wall_s']:.2f})"
            peak += f" ({r['peak_rss_gib'] / first['peak_rss_gib']:.2f})"
        print(
            f"| {r['round']} | {r['run']} | {wall} | {peak} | {r['fit_s']} s ({r['trees']}) | "
            f"{r['load_before']} |"
        )


if __name__ == "__main__":
    typer.run(main)
