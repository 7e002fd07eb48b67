"""Assignment: deterministic, sticky across processes, balanced, and only while running."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

import pytest

from smartstack.experiments.assignment import Assigner
from smartstack.experiments.config import parse_experiments
from smartstack.experiments.readout import sample_ratio_mismatch
from smartstack.paths import PROJECT_ROOT

DURING = datetime(2026, 7, 15, tzinfo=UTC)
IDS = [f"CUST-{i:07d}" for i in range(100_000)]


def assigner(*experiments: dict) -> Assigner:
    return Assigner(parse_experiments({"version": 1, "experiments": list(experiments)}, "test"))


def ab(name: str = "ab", share: float = 0.5, **changes: object) -> dict:
    return {
        "name": name,
        "salt": f"{name}-salt",
        "start": "2026-07-01T00:00:00Z",
        "end": "2026-08-01T00:00:00Z",
        "arms": [
            {"name": "control", "ranker": "champion", "share": share},
            {"name": "treatment", "ranker": "challenger", "share": round(1 - share, 10)},
        ],
        **changes,
    }


def arms_of(assign: Assigner, ids: list[str]) -> Counter[str]:
    return Counter(
        a.arm.name if (a := assign.assign(customer, DURING)) else "none" for customer in ids
    )


def test_a_50_50_split_over_100000_ids_shows_no_sample_ratio_mismatch() -> None:
    counts = arms_of(assigner(ab()), IDS)
    assert set(counts) == {"control", "treatment"}
    assert sample_ratio_mismatch(counts, {"control": 0.5, "treatment": 0.5}) > 0.01


def test_a_90_10_split_keeps_its_shares_and_a_skewed_log_is_caught() -> None:
    counts = arms_of(assigner(ab(share=0.9)), IDS)
    assert sample_ratio_mismatch(counts, {"control": 0.9, "treatment": 0.1}) > 0.01
    # Logging that lost 5% of one arm's rankings: the check flags the split.
    lossy = {"control": counts["control"], "treatment": int(counts["treatment"] * 0.95)}
    assert sample_ratio_mismatch(lossy, {"control": 0.9, "treatment": 0.1}) < 0.01


def test_assignment_is_the_same_in_another_process() -> None:
    """Sticky across workers: another interpreter (its own hash seed) assigns alike."""
    sample = IDS[:2_000]
    here = [a.arm.name if (a := assigner(ab()).assign(c, DURING)) else "" for c in sample]
    program = (
        "import json;"
        "from tests.experiments.test_assignment import ab, assigner, IDS, DURING;"
        "a = assigner(ab()); print(json.dumps([x.arm.name if (x := a.assign(c, DURING)) else ''"
        " for c in IDS[:2000]]))"
    )
    # From the repository root: a test that ran dbt before may have moved this process's cwd.
    there = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    )
    assert there.returncode == 0, there.stderr
    assert here == json.loads(there.stdout)


def test_customers_are_assigned_only_while_the_experiment_runs() -> None:
    assign = assigner(ab())
    assert assign.assign(IDS[0], DURING) is not None
    assert assign.assign(IDS[0], datetime(2026, 6, 30, tzinfo=UTC)) is None
    assert assign.assign(IDS[0], datetime(2026, 8, 1, tzinfo=UTC)) is None  # the end is open


def test_experiments_running_together_take_disjoint_customers() -> None:
    first = ab("first", customers={"start": 0.0, "end": 0.2})
    second = ab("second", customers={"start": 0.2, "end": 0.5})
    assign = assigner(first, second)
    taken = Counter(a.experiment if (a := assign.assign(c, DURING)) else "none" for c in IDS)
    # Each takes its slice of the namespace: about 20% and 30%, the rest the champion's.
    assert taken["first"] == pytest.approx(20_000, rel=0.05)
    assert taken["second"] == pytest.approx(30_000, rel=0.05)
    assert taken["none"] == pytest.approx(50_000, rel=0.05)


def test_a_new_salt_reshuffles_the_customers() -> None:
    before = arms_of(assigner(ab()), IDS[:10_000])
    moved = sum(
        (a.arm.name if (a := assigner(ab()).assign(c, DURING)) else "")
        != (b.arm.name if (b := assigner(ab(salt="another")).assign(c, DURING)) else "")
        for c in IDS[:2_000]
    )
    assert sum(before.values()) == 10_000 and 700 < moved < 1_300  # about half move
