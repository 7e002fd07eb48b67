"""Time `make test` on fresh clones of two commits, one after the other on this machine.

Each commit is cloned into its own folder beside this repository (so `../shared` resolves as it
does for CI) and runs `CI=true bash .ci/run` (the README's test command, setup included) with
`--durations=25` added. The script prints, per commit: the wall time of the whole command, the
time pytest reports for the tests alone, the tests' pass/fail counts, the load average before
and after, and the 25 slowest steps; then the ratio of the test times. Environments are set up
from the pinned locks with `uv`'s package cache warm, as on a developer machine.

    .venv/bin/python bench/bench_tests.py --before 1272153 --after HEAD --prefix ../bench-tests
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"=+ (?P<counts>.*?) in (?P<seconds>[0-9.]+)s")


def clone(commit: str, target: Path) -> str:
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", commit], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "--quiet", sha], check=True)
    return sha


def run(folder: Path) -> dict:
    before = os.getloadavg()
    started = time.monotonic()
    done = subprocess.run(
        ["bash", ".ci/run"],
        cwd=folder,
        env={**os.environ, "CI": "true", "PYTEST_ADDOPTS": "--durations=25"},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - started
    output = done.stdout + done.stderr
    (folder / "bench-tests.log").write_text(output)
    summary = list(SUMMARY.finditer(output))[-1]
    slowest = output[output.rfind("slowest") :].splitlines()[1:26]
    return {
        "exit_code": done.returncode,
        "wall_seconds": round(wall, 1),
        "test_seconds": float(summary["seconds"]),
        "counts": summary["counts"],
        "load_before": [round(x, 2) for x in before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "slowest": slowest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="The commit to compare against.")
    parser.add_argument("--after", default="HEAD")
    parser.add_argument(
        "--prefix", type=Path, required=True,
        help="The clones go to PREFIX-before and PREFIX-after (new folders beside the repo).",
    )  # fmt: skip
    args = parser.parse_args()
    results = {}
    for name, commit in (("before", args.before), ("after", args.after)):
        folder = args.prefix.parent / f"{args.prefix.name}-{name}"
        sha = clone(commit, folder)
        results[name] = {"commit": sha, **run(folder)}
        print(json.dumps({name: results[name]}, indent=1), flush=True)
    ratio = results["after"]["test_seconds"] / results["before"]["test_seconds"]
    print(f"tests: {results['after']['test_seconds']:.0f} s / "
          f"{results['before']['test_seconds']:.0f} s = {ratio:.2f}")
    Path(f"{args.prefix}-results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
