"""Reading the tables a gate validates into pandas, in bounded memory.

Raw tables are directories of Parquet parts (``<data_dir>/raw/<table>/``); feature marts are the
Parquet dbt writes for Feast (``<data_dir>/features/<model>.parquet``: a file from DuckDB, a folder
of parts from Spark).
Strings are loaded as Arrow-backed pandas strings rather than Python objects: at 10M transactions
that is roughly a gigabyte instead of four, and GX validates them like any other column. One table
is in memory at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from smartstack.quality.suites import Stage


class TableMissing(FileNotFoundError):
    """The table a suite is defined for was not written."""


def table_path(stage: Stage, table: str, data_dir: Path) -> Path:
    if stage == "raw":
        return data_dir / "raw" / table
    return data_dir / "features" / f"{table}.parquet"


def existing_path(stage: Stage, table: str, data_dir: Path) -> Path:
    path = table_path(stage, table, data_dir)
    if not path.exists():
        raise TableMissing(f"{stage} table {table!r} not found at {path}")
    return path


def table_shape(stage: Stage, table: str, data_dir: Path) -> tuple[int, list[str]]:
    """Rows and column names, from the Parquet metadata only."""
    path = existing_path(stage, table, data_dir)
    return pq.read_table(path, columns=[]).num_rows, pq.ParquetDataset(path).schema.names


def load_table(
    stage: Stage, table: str, data_dir: Path, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The table (or only ``columns`` of it) as the suites expect it."""
    path = existing_path(stage, table, data_dir)
    # Arrow's buffers are freed as their columns convert (the table is unusable afterwards),
    # and Parquet's column chunks are read as decoded rather than all buffered first: the
    # load's peak is not the table twice.
    table = pq.read_table(
        path, columns=None if columns is None else list(columns), pre_buffer=False
    )
    nullable = _nullable_integers(table) if stage == "raw" else {}
    frame = table.to_pandas(
        types_mapper=_arrow_strings, date_as_object=False, self_destruct=True, split_blocks=True
    )
    del table
    for name, dtype in nullable.items():
        frame[name] = frame[name].astype(dtype)
    return frame if stage == "raw" else _utc(frame)


def _nullable_integers(table: pa.Table) -> dict[str, str]:
    """The pandas nullable integer type of each integer column with nulls: pandas would turn
    them into floats, and a raw contract's ``int32`` column (an age, say) would fail its exact
    type check. (Marts are only checked to be numeric, of any width.)"""
    types: dict[str, str] = {}
    for field in table.schema:
        if pa.types.is_integer(field.type) and table.column(field.name).null_count:
            signed = "Int" if pa.types.is_signed_integer(field.type) else "UInt"
            types[field.name] = f"{signed}{field.type.bit_width}"
    return types


def _arrow_strings(arrow_type: pa.DataType) -> pd.StringDtype | None:
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype("pyarrow")
    return None


def _utc(frame: pd.DataFrame) -> pd.DataFrame:
    """Marts hold UTC times; DuckDB may write them without a zone, so make them comparable."""
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_datetime64_dtype(column) and column.dt.tz is None:
            frame[name] = column.dt.tz_localize("UTC")
    return frame
