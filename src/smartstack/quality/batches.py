"""A large table's suite validated a few columns at a time, in memory bounded by its widest batch.

GX's pandas engine validates a frame held in memory, and copies the columns an expectation reads
while it runs. At 1,000,000 customers the raw tables are up to 99 million rows, and a gate that
read them whole was killed at 22.9 GiB of the machine's 24 (``docs/benchmarks.md``, "The
quality gates in bounded memory"). So above the ``quality_max_cells`` setting (rows × columns)
the gate splits a table's suite into batches: the expectations that read the same columns (a
compound key, an ordered pair) go together, and each batch is validated on a frame whose own
columns hold their values while every other column is an Arrow null array, which holds no
memory. The frame keeps the table's columns and rows, so the table-level expectations (the
column set, the row count), which go in a batch of their own, see the table's shape. An
expectation with a ``row_condition`` reads columns its fields do not name, so a suite with one
is validated whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
from great_expectations.expectations import Expectation

_COLUMN_FIELDS = ("column", "column_A", "column_B")


@dataclass(frozen=True)
class Batch:
    """Expectations validated together, and the columns whose values they read."""

    columns: tuple[str, ...]
    expectations: tuple[Expectation, ...]


def read_columns(expectation: Expectation) -> frozenset[str]:
    """The columns an expectation's fields name (none for a table-level expectation)."""
    names = {getattr(expectation, name, None) for name in _COLUMN_FIELDS}
    names.update(getattr(expectation, "column_list", None) or ())
    return frozenset(name for name in names if name)


def splittable(expectations: Sequence[Expectation]) -> bool:
    """Every expectation reads only the columns its fields name."""
    return not any(getattr(e, "row_condition", None) for e in expectations)


def column_batches(expectations: Sequence[Expectation]) -> list[Batch]:
    """The suite in batches whose column sets do not overlap, table-level expectations first,
    each batch's expectations in suite order."""
    groups: list[tuple[set[str], list[int]]] = []
    table_level: list[int] = []
    for index, expectation in enumerate(expectations):
        columns = set(read_columns(expectation))
        if not columns:
            table_level.append(index)
            continue
        members = [index]
        for group in [g for g in groups if g[0] & columns]:
            groups.remove(group)
            columns |= group[0]
            members += group[1]
        groups.append((columns, members))
    batches = [Batch((), tuple(expectations[i] for i in table_level))] if table_level else []
    for columns, members in sorted(groups, key=lambda group: min(group[1])):
        batch = tuple(expectations[i] for i in sorted(members))
        batches.append(Batch(tuple(sorted(columns)), batch))
    return batches


def with_placeholders(frame: pd.DataFrame, names: Sequence[str], rows: int) -> pd.DataFrame:
    """``frame`` with every other of ``names`` added as a null column of ``rows`` rows that
    holds no memory (an Arrow null array has no buffers)."""
    for name in names:
        if name not in frame:
            frame[name] = pd.arrays.ArrowExtensionArray(pa.nulls(rows))
    return frame
