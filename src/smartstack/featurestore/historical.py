"""Point-in-time retrieval of a feature service with its on-demand views applied column-wise.

Feast's ``RetrievalJob.to_df`` applies a Python-mode on-demand view by turning the *whole*
joined table (every column of every view, some 180 here) into Python lists before calling the
view's function, which reads a few dozen of them. At a training set's size that conversion was
half of the retrieval's time and most of its memory (``docs/benchmarks.md``, "Training").

Here Feast still does the point-in-time join (the feature views the service names, plus every
source feature its on-demand views read) and the on-demand views' own registered functions
compute their features; only the columns a function asks for are converted, when it asks.
The result is Feast's ``to_df`` of the service: the entity frame's columns, then the service's
features under their short names. A test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from feast import FeatureService, FeatureStore, OnDemandFeatureView


class ArrowColumns(Mapping[str, list[Any]]):
    """A joined table's columns as Python lists, each converted on first read.

    Two kinds go a faster way than Arrow's ``to_pylist`` (at 240,000 rows, 1.2 s for a
    timestamp column). A float column goes through NumPy, so its nulls arrive as NaN where
    Feast's lists hold None: the views' functions read both as missing, and the equivalence
    test with Feast's ``to_df`` holds them to it. A timestamp column without nulls goes through
    pandas, which gives the same ``datetime`` objects.
    """

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self._lists: dict[str, list[Any]] = {}

    def __getitem__(self, name: str) -> list[Any]:
        if name not in self._lists:
            if name not in self._table.column_names:
                raise KeyError(name)
            column = self._table.column(name)
            if pa.types.is_floating(column.type):
                self._lists[name] = column.to_numpy().tolist()
            elif pa.types.is_timestamp(column.type) and column.null_count == 0:
                stamps = pd.DatetimeIndex(column.to_pandas())
                self._lists[name] = stamps.to_pydatetime().tolist()
            else:
                self._lists[name] = column.to_pylist()
        return self._lists[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table.column_names)

    def __len__(self) -> int:
        return self._table.num_columns


def _python_on_demand_views(
    feature_store: FeatureStore, service: FeatureService
) -> dict[str, OnDemandFeatureView]:
    """The service's Python-mode on-demand views (other modes are left to Feast)."""
    views = {view.name: view for view in feature_store.list_on_demand_feature_views()}
    return {
        projection.name: views[projection.name]
        for projection in service.feature_view_projections
        if projection.name in views and views[projection.name].mode == "python"
    }


def joined_feature_refs(
    service: FeatureService, on_demand: Mapping[str, OnDemandFeatureView]
) -> list[str]:
    """``view:feature`` of what Feast must bring: the service's features, except that each
    Python on-demand view is replaced by every feature of its sources."""
    refs: dict[str, None] = {}
    for projection in service.feature_view_projections:
        if projection.name in on_demand:
            for source in on_demand[projection.name].source_feature_view_projections.values():
                refs |= {f"{source.name_to_use()}:{f.name}": None for f in source.features}
        else:
            refs |= {f"{projection.name_to_use()}:{f.name}": None for f in projection.features}
    return list(refs)


def historical_features(
    feature_store: FeatureStore, service: FeatureService, entity_df: pd.DataFrame
) -> pd.DataFrame:
    """The service's features as of each row's event time (``get_historical_features``)."""
    on_demand = _python_on_demand_views(feature_store, service)
    job = feature_store.get_historical_features(
        entity_df=entity_df, features=joined_feature_refs(service, on_demand)
    )
    table = job.to_arrow()
    columns = ArrowColumns(table)
    computed: dict[str, Any] = {}
    for projection in service.feature_view_projections:
        if projection.name in on_demand:
            outputs = on_demand[projection.name].feature_transformation.udf(columns)
            computed |= {f.name: outputs[f.name] for f in projection.features}
    del columns
    # Through Arrow, as Feast turns a view's lists into columns: the same dtypes, and faster
    # than pandas' own conversion of lists. Appended to the joined table, so that one
    # conversion makes the frame, where a concat of two frames copied every column again.
    outputs = pa.Table.from_pydict(computed)
    for name, column in zip(outputs.column_names, outputs.columns, strict=True):
        table = table.append_column(name, column)
    del outputs
    # Each Arrow column is released as soon as it is converted.
    return table.to_pandas(split_blocks=True, self_destruct=True)


@contextmanager
def own_duckdb(memory_limit: str, temp_directory: Path) -> Iterator[None]:
    """Feast's DuckDB offline store joins on ibis's default backend: one in-memory DuckDB per
    process, under DuckDB's default limit (80% of the machine's memory), never closed. Within
    this block the joins run on a DuckDB of their own, under ``memory_limit`` (spilling to
    ``temp_directory`` past it), closed at the end: after the last chunk of a 100,000 customer
    training set the default one still held 0.97 GiB (``docs/benchmarks.md``).
    """
    import ibis

    temp_directory.mkdir(parents=True, exist_ok=True)  # DuckDB makes only the last level
    previous = ibis.options.default_backend
    backend = ibis.duckdb.connect(memory_limit=memory_limit, temp_directory=str(temp_directory))
    ibis.set_backend(backend)
    try:
        yield
    finally:
        ibis.options.default_backend = previous
        backend.disconnect()
