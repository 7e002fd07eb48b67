"""Helpers of the dbt tests: run ``smartstack`` on a data set, cut a data set at a date, read
feature files in a canonical order."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from smartstack.data.schema import RAW_SCHEMAS

SMARTSTACK = str(Path(sys.executable).parent / "smartstack")
# A cut on an as-of date of the default spine (impression start + 4 weeks).
CUT_AT = datetime(2026, 5, 29, tzinfo=UTC)
# The mart whose values look forward from event_timestamp by design (labels).
LABEL_TABLES = ("training_impressions",)
# Marts of what customers do live (landed feedback, quiz answers): empty on generated data, so
# test_dbt_engagement.py lands events and checks them as of every date instead.
EVENT_TABLES = ("customer_engagement_features",)
# Time columns of each raw event table: rows at or after the cut are dropped (the first column)
# or, for later outcomes of an earlier event, forgotten (the others).
EVENT_TIMES: dict[str, tuple[str, ...]] = {
    "transactions": ("event_timestamp",),
    "clickstream": ("event_timestamp",),
    "quiz_responses": ("answered_at",),
    "impressions": ("shown_at", "viewed_at", "clicked_at", "redeemed_at"),
}


@dataclass(frozen=True)
class Build:
    """One dbt run: where it ran and what it printed."""

    home: Path
    data_dir: Path
    returncode: int
    output: str

    @property
    def features_dir(self) -> Path:
        return self.data_dir / "features"

    @property
    def duckdb_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    def features(self) -> dict[str, pd.DataFrame]:
        """Every feature file, in a canonical row order so that builds compare equal."""
        return {path.stem: read_sorted(path) for path in sorted(self.features_dir.glob("*.parquet"))}

    def table(self, name: str) -> pd.DataFrame:
        with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            frame = con.execute(f"select * from main.{name}").df()
        return sort_frame(frame)


def read_sorted(path: Path) -> pd.DataFrame:
    return sort_frame(pd.read_parquet(path))


def sort_frame(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in frame.columns if c.endswith("_id") or c in (
        "event_timestamp", "merchant_category", "event_type", "txn_day", "event_day", "as_of")]
    return frame.sort_values(keys or list(frame.columns)).reset_index(drop=True)


def run_smartstack(args: list[str], home: Path, data_dir: Path) -> Build:
    """``smartstack <args>`` in a subprocess with its own home and data set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSTACK_")}
    env.update(SMARTSTACK_HOME=str(home), SMARTSTACK_DATA_DIR=str(data_dir))
    done = subprocess.run([SMARTSTACK, *args], env=env, capture_output=True, text=True,
                          check=False, timeout=600)
    return Build(home, data_dir, done.returncode, done.stdout + done.stderr)


def cut_raw_data(source: Path, target: Path, cut: datetime) -> None:
    """Copy a data set as it would have looked at ``cut``: events at or after it are dropped and
    later outcomes of earlier impressions are unknown (an impression redeemed after the cut is
    only 'clicked'). Dimension tables (customers, offers) are copied unchanged."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("features", "ground_truth"))
    cut_scalar = pa.scalar(cut, type=pa.timestamp("us", tz="UTC"))
    for name, columns in EVENT_TIMES.items():
        folder = target / "raw" / name
        table = pq.read_table(folder, schema=RAW_SCHEMAS[name])
        table = table.filter(pc.less(table[columns[0]], cut_scalar))
        for column in columns[1:]:
            values = table[column]
            table = table.set_column(
                table.schema.get_field_index(column), column,
                pc.if_else(pc.less(values, cut_scalar), values, pa.nulls(len(values), values.type)),
            )
        if name == "impressions":
            table = table.set_column(table.schema.get_field_index("outcome"), "outcome",
                                     _outcome(table))
        shutil.rmtree(folder)
        folder.mkdir()
        pq.write_table(table, folder / "part-00000.parquet")


def _outcome(impressions: pa.Table) -> pa.Array:
    stage = pc.add(pc.add(pc.is_valid(impressions["viewed_at"]).cast(pa.int8()),
                          pc.is_valid(impressions["clicked_at"]).cast(pa.int8())),
                   pc.is_valid(impressions["redeemed_at"]).cast(pa.int8()))
    return pa.array(["shown", "viewed", "clicked", "redeemed"]).take(stage)




@dataclass(frozen=True)
class CutThenIncremental:
    """Features of the data set cut at CUT_AT, then of an incremental run on the full data."""

    cut_features: dict[str, pd.DataFrame]
    cut: Build
    incremental: Build


def assert_unchanged_as_of_the_cut(
    full: dict[str, pd.DataFrame], cut: dict[str, pd.DataFrame]
) -> None:
    """Every feature row as of CUT_AT built from the data cut there equals the full build's
    (label and live-event marts aside); at least four marts compared."""
    cut_at = pd.Timestamp(CUT_AT).tz_localize(None)
    compared = 0
    for name, frame in full.items():
        if name in LABEL_TABLES or name in EVENT_TABLES:
            continue
        before = frame[frame["event_timestamp"] <= cut_at].reset_index(drop=True)
        from_cut = cut[name][list(frame.columns)]
        from_cut = from_cut[from_cut["event_timestamp"] <= cut_at].reset_index(drop=True)
        assert len(before) > 0, name
        pd.testing.assert_frame_equal(from_cut, before, check_exact=False, rtol=1e-9,
                                      obj=name)
        compared += 1
    assert compared >= 4
