"""The drift job's cost on a built home, phase by phase, and its peak memory.

Runs ``smartstack.monitoring.drift.check`` once on the home's champion (the daily DAG's
``monitor_drift`` task), timing each phase by wrapping the functions it calls: reading the
marts, Evidently's comparisons, the champion's scores (two Feast point-in-time retrievals and
the tree scorer), the HTML reports, the dashboard push and the MLflow run.

    SMARTSTACK_HOME=var .venv/bin/python bench/bench_drift.py
    SMARTSTACK_HOME=var .venv/bin/python bench/bench_drift.py --window 2026-05-01 2026-06-12

With ``--window`` the reference is the marts as of those dates and no champion is needed (the
champion's score check is then left out), so a home that dbt built is enough.

Prints a Markdown table, the comparisons' sizes and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import functools
import resource
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from evidently.core.report import Snapshot

from smartstack.monitoring import dashboard, drift
from smartstack.settings import get_settings

SPENT: dict[str, float] = defaultdict(float)


def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            SPENT[name] += time.perf_counter() - started

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--window",
        nargs=2,
        metavar=("START", "END"),
        type=lambda day: datetime.fromisoformat(day).replace(tzinfo=UTC),
        help="the reference's as-of dates (ISO), instead of the champion's train window",
    )
    args = parser.parse_args()
    phases = {
        "champion and its window (MLflow)": (drift, "champion_reference"),
        "customer marts (DuckDB)": (drift, "_mart_sides"),
        "feature comparisons (Evidently)": (drift, "_compare"),
        "champion's scores (Feast + scorer)": (drift, "champion_scores"),
        "score comparison (Evidently)": (drift, "_score_drift"),
        "dashboard push": (dashboard, "push_drift"),
        "MLflow run": (drift, "_log"),
        "HTML reports": (Snapshot, "save_html"),
    }
    for name, (owner, attribute) in phases.items():
        setattr(owner, attribute, timed(name, getattr(owner, attribute)))
    started = time.perf_counter()
    window = tuple(args.window) if args.window else None
    verdict = drift.check(get_settings(), reference_window=window, log_to_mlflow=window is None)
    total = time.perf_counter() - started
    print("| phase | seconds |\n|---|---:|")
    for name in phases:
        print(f"| {name} | {SPENT[name]:.1f} |")
    print(f"| **total** | **{total:.1f}** |")
    for comparison in verdict.comparisons:
        print(
            f"{comparison.name}: {comparison.rows:,} rows vs {comparison.reference_rows:,} "
            f"reference rows, {len(comparison.scores)} features"
        )
    print(f"score: {verdict.score_note}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
