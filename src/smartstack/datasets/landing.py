"""Land the raw tables the pipeline reads, from one of two sources.

- ``dataset``: the active data set's adapter writes them (:mod:`smartstack.datasets`): the
  seeded generator, or a reader of the data set's own files. The same options give the same
  files, and the tables are swapped in whole, so a rerun leaves the same state.
- ``landed``: the tables are already there, written by something outside the pipeline (the
  event stream's sink, a replay, a copy from production). Ingestion only checks that every
  raw table of the data set has data and reports the row counts; the quality gate after it
  judges the content.

The Airflow DAGs call this through ``smartstack ingest`` as their first task.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow.parquet as pq

from smartstack.datasets import active
from smartstack.datasets.adapter import LandOptions
from smartstack.privacy.parquet import customer_ids, drop_customers
from smartstack.privacy.suppression import SuppressionList
from smartstack.settings import Settings


class Source(StrEnum):
    dataset = "dataset"
    landed = "landed"


class NothingLanded(Exception):
    """A raw table has no data where the pipeline reads it; the message is one sentence."""


def landed_row_counts(settings: Settings) -> dict[str, int]:
    """Rows of every raw table of the data set, read from the Parquet footers."""
    raw = settings.raw_dir
    counts: dict[str, int] = {}
    missing: list[str] = []
    for table in active(settings).raw_tables:
        parts = sorted((raw / table).glob("*.parquet"))
        if not parts:
            missing.append(table)
            continue
        counts[table] = sum(pq.ParquetFile(part).metadata.num_rows for part in parts)
    if missing:
        raise NothingLanded(
            f"no raw data for {', '.join(missing)} under {raw}: land the tables there first, "
            "or ingest with --source dataset"
        )
    return counts


def ingest(settings: Settings, source: Source, options: LandOptions) -> tuple[str, dict[str, int]]:
    """Make the raw tables available under ``data_dir``, without suppressed (erased)
    customers; returns where they came from and their row counts. The adapter's
    :class:`~smartstack.datasets.adapter.SourceError` says why a source cannot be landed."""
    origin = "landed"
    if source is Source.dataset:
        origin = active(settings).land(settings, options).origin
    leave_out_suppressed(settings)
    return origin, landed_row_counts(settings)


def leave_out_suppressed(settings: Settings) -> int:
    """Remove erased customers' rows from the raw tables and the generator's truth: a data
    set generated or read again holds them again. Returns how many rows were removed."""
    suppression = SuppressionList.from_settings(settings)
    try:
        if not len(suppression):
            return 0
        roster = settings.raw_dir / "customers"
        erased = suppression.suppressed(customer_ids(roster) if roster.is_dir() else ())
    finally:
        suppression.close()
    if not erased:
        return 0
    removed = drop_customers(settings.raw_dir, erased)
    return removed + drop_customers(settings.data_dir / "ground_truth", erased)
