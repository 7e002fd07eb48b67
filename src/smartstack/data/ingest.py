"""Land the raw tables the pipeline reads, from one of two sources.

- ``synthetic``: run the seeded generator into ``data_dir`` (the embedded demo and the tests).
  The same customers and seed give byte-identical files, and the data set is swapped in whole,
  so a rerun leaves the same state.
- ``landed``: the tables are already there, written by something outside the pipeline (the
  event stream's sink, a replay, a copy from production). Ingestion only checks that every
  raw table has data and reports the row counts; the quality gate after it judges the content.

A data set with an ingestion adapter (the ``dataset`` setting; ``smartstack.datasets``, e.g.
``starbucks``) is landed by its adapter from ``source_dir`` instead of being generated, and only
the tables it provides are counted.

The Airflow DAGs call this through ``smartstack ingest`` as their first task.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow.parquet as pq

from smartstack.data.schema import RAW_TABLES
from smartstack.datasets import active
from smartstack.settings import Settings


class Source(StrEnum):
    synthetic = "synthetic"
    landed = "landed"


class NothingLanded(Exception):
    """A raw table has no data where the pipeline reads it; the message is one sentence."""


def landed_row_counts(settings: Settings) -> dict[str, int]:
    """Rows of every raw table under ``<data_dir>/raw``, read from the Parquet footers."""
    spec = active(settings)
    raw = settings.raw_dir
    counts: dict[str, int] = {}
    missing: list[str] = []
    for table in RAW_TABLES if spec.adapter is None else spec.raw_tables:
        parts = sorted((raw / table).glob("*.parquet"))
        if not parts:
            missing.append(table)
            continue
        counts[table] = sum(pq.ParquetFile(part).metadata.num_rows for part in parts)
    if missing:
        raise NothingLanded(
            f"no raw data for {', '.join(missing)} under {raw}: land the tables there first, "
            "or ingest with --source synthetic"
        )
    return counts


def ingest(settings: Settings, source: Source, customers: int, seed: int) -> dict[str, int]:
    """Make the raw tables available under ``data_dir`` and return their row counts."""
    spec = active(settings)
    if spec.adapter is not None and source is not Source.landed:
        spec.land(settings)
    elif source is Source.synthetic:
        from smartstack.data.generator import GeneratorConfig, generate

        assert settings.data_dir is not None
        generate(GeneratorConfig(customers=customers, seed=seed), settings.data_dir)
    return landed_row_counts(settings)
