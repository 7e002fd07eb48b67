"""The drift job's cost on a built home, phase by phase, and its peak memory.

Runs ``smartstack.monitoring.drift.check`` once on the home's champion (the daily DAG's
``monitor_drift`` task), timing each phase by wrapping the functions it calls: reading the
marts, Evidently's comparisons, the champion's scores (two Feast point-in-time retrievals and
the tree scorer), the HTML reports, the dashboard push and the MLflow run.

    SMARTSTACK_HOME=var .venv/bin/python bench/bench_drift.py

Prints a Markdown table, the comparisons' sizes and the process's peak resident memory.
"""

from __future__ import annotations

import functools
import resource
import time
from collections import defaultdict
from collections.abc import Callable
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
    phases = {
        "champion and its window (MLflow)": (drift, "champion_reference"),
        "customer marts (DuckDB)": (drift, "_marts"),
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
    verdict = drift.check(get_settings())
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
