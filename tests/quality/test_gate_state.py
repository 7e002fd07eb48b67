"""What the quality gate remembers after a failed run: nothing of the failed data.

The gate keeps two files per stage under ``<home>/quality/`` (``state.py``): rolling row counts
and a fixed reference profile. Shown here, with the real gate and the suites of
``expectations/`` on a private copy of generated data:

- a blocked run leaves both files as the last good run wrote them (byte for byte), so the same
  bad data is refused again on the next run (it did not become its own reference), and the
  first good run after it passes, rolls the row counts forward and keeps the reference;
- a blocked *first* run writes no reference at all: the reference is that of the first good
  run, which then refuses the bad data it never learnt.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from smartstack.quality.gate import GateResult, QualityGateFailed, run_gate
from smartstack.quality.state import QualityState
from smartstack.settings import Settings

from .helpers import EXPECTATIONS, rewrite_raw

TABLE = "transactions"


def gate(settings: Settings) -> GateResult:
    return run_gate("raw", settings, tables=[TABLE], expectations_dir=EXPECTATIONS)


def refused(settings: Settings) -> set[str]:
    """The blocking expectations of a run that must be refused."""
    with pytest.raises(QualityGateFailed) as caught:
        gate(settings)
    return {f"{f.expectation}:{f.column}" for f in caught.value.result.blocking}


def state_files(settings: Settings) -> QualityState:
    return QualityState(settings.home / "quality", "raw")


def snapshot(state: QualityState) -> dict[Path, bytes | None]:
    paths = (state.counts_path, state.reference_path)
    return {p: p.read_bytes() if p.exists() else None for p in paths}


def rows(data_dir: Path) -> int:
    return pq.read_table(data_dir / "raw" / TABLE).num_rows


def inflated(frame: pd.DataFrame) -> pd.DataFrame:
    """A unit change upstream, on a third fewer rows: a shift the reference profile blocks."""
    frame = frame.iloc[: 2 * len(frame) // 3].copy()
    frame["amount"] *= 3
    return frame


def negated(frame: pd.DataFrame) -> pd.DataFrame:
    frame = inflated(frame)
    frame.loc[frame.index[:5], "amount"] *= -1
    return frame


def test_a_failed_run_keeps_the_last_good_state_and_refuses_again(
    settings: Settings, data_dir: Path, tmp_path: Path
) -> None:
    clean = tmp_path / "clean"
    shutil.copytree(data_dir / "raw" / TABLE, clean)
    assert gate(settings).passed
    state = state_files(settings)
    good = snapshot(state)
    assert state.row_counts()[TABLE] == rows(data_dir)
    assert TABLE in state.reference()

    rewrite_raw(data_dir, TABLE, inflated)
    first = refused(settings)
    assert "expect_column_mean_to_be_between:amount" in first
    assert snapshot(state) == good  # neither the counts nor the reference moved
    assert refused(settings) == first  # the same data, refused again for the same reasons
    assert snapshot(state) == good

    shutil.rmtree(data_dir / "raw" / TABLE)
    shutil.copytree(clean, data_dir / "raw" / TABLE)
    assert gate(settings).passed
    assert state.row_counts()[TABLE] == rows(data_dir)
    assert snapshot(state)[state.reference_path] == good[state.reference_path]


def test_a_failed_first_run_writes_no_reference(
    settings: Settings, data_dir: Path, tmp_path: Path
) -> None:
    clean = tmp_path / "clean"
    shutil.copytree(data_dir / "raw" / TABLE, clean)
    rewrite_raw(data_dir, TABLE, negated)  # negative amounts: blocked with no reference yet
    assert refused(settings)
    state = state_files(settings)
    assert snapshot(state) == {state.counts_path: None, state.reference_path: None}

    shutil.rmtree(data_dir / "raw" / TABLE)
    shutil.copytree(clean, data_dir / "raw" / TABLE)
    assert gate(settings).passed
    reference = json.loads(state.reference_path.read_text())[TABLE]["amount"]
    assert state.row_counts()[TABLE] == rows(data_dir)

    # The reference is the good run's: the shifted amounts of the failed run are refused.
    rewrite_raw(data_dir, TABLE, inflated)
    assert "expect_column_mean_to_be_between:amount" in refused(settings)
    assert json.loads(state.reference_path.read_text())[TABLE]["amount"] == reference
