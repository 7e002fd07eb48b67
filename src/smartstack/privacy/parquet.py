"""Removing one customer's rows from folders of Parquet parts (raw tables, ground truth, marts,
the ranking and shadow logs): each part holding the id is written again without those rows,
to a temporary file renamed over it, so a reader sees the old part or the new one, never half.
A part's footer statistics rule most parts out without reading them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

CUSTOMER_COLUMN = "customer_id"


def parts(root: Path) -> Iterable[Path]:
    """Every Parquet file under ``root`` (itself, if it is one), in a stable order. Spark names
    a table's folder ``<table>.parquet`` too: folders are not parts."""
    if root.is_file():
        return [root] if root.suffix == ".parquet" else []
    return sorted(
        p for p in root.rglob("*.parquet") if not p.name.startswith(".") and p.is_file()
    )


def _checksum_of(path: Path) -> Path:
    """The Hadoop checksum file Spark writes beside each part (``.<part>.crc``)."""
    return path.with_name(f".{path.name}.crc")


def _may_hold(path: Path, ids: frozenset[str]) -> bool:
    """False when the footer's min/max of the customer column exclude every id."""
    meta = pq.ParquetFile(path).metadata
    names = meta.schema.to_arrow_schema().names
    if CUSTOMER_COLUMN not in names:
        return False
    column = names.index(CUSTOMER_COLUMN)
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max:
            return True
        if any(stats.min <= i <= stats.max for i in ids):
            return True
    return False


def drop_customers(root: Path, customer_ids: Iterable[str]) -> int:
    """Rewrite every part under ``root`` without the rows of these customers; returns how
    many rows were removed. Parts without a ``customer_id`` column are left alone."""
    ids = frozenset(customer_ids)
    removed = 0
    for path in parts(root):
        if not _may_hold(path, ids):
            continue
        table = pq.read_table(path)
        held = pc.is_in(table[CUSTOMER_COLUMN], value_set=pa.array(sorted(ids), pa.string()))
        hits = pc.sum(held).as_py() or 0
        if not hits:
            continue
        temporary = path.with_name(f".erasing-{path.name}")
        pq.write_table(table.filter(pc.invert(held)), temporary)
        # Spark checks a part against its checksum file when there is one: the old part's
        # would fail the new part's read, and without one Spark reads the part unchecked.
        _checksum_of(path).unlink(missing_ok=True)
        os.replace(temporary, path)
        removed += hits
    return removed


def customer_ids(root: Path) -> set[str]:
    """The distinct customer ids of a folder of parts (the customer column only is read)."""
    if not any(True for _ in parts(root)):
        return set()
    dataset = ds.dataset(root, format="parquet", exclude_invalid_files=True)
    if CUSTOMER_COLUMN not in dataset.schema.names:
        return set()
    ids: set[str] = set()
    for batch in dataset.to_batches(columns=[CUSTOMER_COLUMN]):
        ids.update(pc.unique(batch.column(0)).to_pylist())
    ids.discard(None)
    return ids
