"""The warehouse's tables read with DuckDB, whichever engine built them.

On the local warehouse they are the DuckDB file's tables and views (a mart is a view over its
Parquet file). On the spark warehouse Spark wrote each table as a folder of Parquet parts: the
marts in the features folder, the other tables in its schema's folder. An in-memory DuckDB
database then gets one view per folder under the table's name, so a reader's SQL is the same
on both (the monitoring jobs' outcomes and drift).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from smartstack.settings import Settings, Warehouse

MART_SUFFIX = ".parquet"


def warehouse_location(settings: Settings) -> Path:
    """What a build leaves behind: the DuckDB file, or Spark's folder of tables."""
    if settings.warehouse is Warehouse.spark:
        return settings.spark_tables_dir
    return settings.duckdb_path


def spark_tables(settings: Settings) -> dict[str, Path]:
    """Each table Spark wrote, by name: its folder of parts (partitioned tables hold one
    ``<column>=<value>`` folder per partition). Folders without a part yet are left out."""
    marts = [p for p in _folders(settings.features_dir) if p.name.endswith(MART_SUFFIX)]
    folders = [*_folders(settings.spark_tables_dir), *marts]
    return {
        folder.name.removesuffix(MART_SUFFIX): folder
        for folder in folders
        if any(folder.rglob(f"*{MART_SUFFIX}"))
    }


@contextmanager
def read_warehouse(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only view of the warehouse's tables (see the module docstring); the caller
    checks :func:`warehouse_location` exists first."""
    if settings.warehouse is not Warehouse.spark:
        with duckdb.connect(str(settings.duckdb_path), read_only=True) as connection:
            yield connection
        return
    with duckdb.connect() as connection:
        for name, folder in spark_tables(settings).items():
            parts = str(folder / "**" / f"*{MART_SUFFIX}").replace("'", "''")
            connection.execute(
                f'create view "{name}" as select * '
                f"from read_parquet('{parts}', hive_partitioning = true)"
            )
        yield connection


def _folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
