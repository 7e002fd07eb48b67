"""Feast's local materialization engine with a faster last step: converting rows and writing them.

Feast 0.67's local engine reads a view's interval from the offline store, keeps each entity's
latest row (a small DAG of Arrow/pandas steps), then converts the rows to protobufs one value at
a time through ``python_values_to_proto_values`` (a type check, ``pd.isnull`` and a lambda per
value) and hands them to the online store's ``online_write_batch``, which on SQLite runs one
``execute`` per feature of each entity. At 100,000 customers a first load ran at about 700
entity rows a second into SQLite and 2,400 into Redis (docs/benchmarks.md, "Feast feature
store").

:class:`BulkComputeEngine` is that same engine (``LocalComputeEngine``: the same plan up to the
deduplicated table, so exactly the rows Feast would write) with another output node:

* values are converted a column at a time: for the scalar types the views use (floats, integers,
  strings, from their native Arrow types) one comprehension builds the ``Value`` protos Feast's
  converter would build; any other type or Arrow type goes through Feast's own converter;
* rows go out in batches of ``batch_rows`` entities
  (``materialization_config.online_write_batch_size`` when set);
* Redis (and any other store): through the store's own ``online_write_batch``, so its layout and
  its newer-timestamp check stay Feast's;
* SQLite (without vectors or ``value_num``): the six columns ``online_write_batch`` would write
  (same entity-key bytes, value bytes, ``extract_text_and_num`` text and adapted timestamps) with
  its upsert, on its connection, as one ``executemany`` per batch in one transaction, in the
  order of the serialized entity keys so the table's indexes grow at one end. This uses the
  private ``SqliteOnlineStore._get_conn`` (feast is pinned to 0.67; see
  :mod:`smartstack.featurestore.rows` for the same layout read back).

Everything else is Feast's: the engine is configured as Feast's ``batch_engine``
(:mod:`smartstack.featurestore.config`), so ``FeatureStore.materialize`` and
``materialize_incremental`` run unchanged and record each interval in the registry themselves.
``tests/featurestore/test_bulk_materialization.py`` compares its rows with the local engine's,
byte for byte, on SQLite and Redis.

Measured at 10,000 customers on two busy cores (``bench/bench_feast.py``): SQLite 1,225 → 2,100
entity rows a second, Redis 1,960 → 2,230. What is left is Feast's: on Redis its
``online_write_batch`` (a murmur hash and a serialization per value), on SQLite the store's three
B-trees per feature row, the offline reads and the registry's commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from feast.infra.common.materialization_job import MaterializationJobStatus, MaterializationTask
from feast.infra.compute_engines.dag.context import ExecutionContext
from feast.infra.compute_engines.local.arrow_table_value import ArrowTableValue
from feast.infra.compute_engines.local.compute import LocalComputeEngine
from feast.infra.compute_engines.local.feature_builder import LocalFeatureBuilder
from feast.infra.compute_engines.local.job import LocalMaterializationJob
from feast.infra.compute_engines.local.nodes import LocalOutputNode
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import compute_table_id, extract_text_and_num
from feast.infra.online_stores.sqlite import SqliteOnlineStore
from feast.infra.registry.base_registry import BaseRegistry
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.repo_config import FeastConfigBaseModel, RepoConfig
from feast.type_map import python_values_to_proto_values
from feast.utils import _coerce_datetime, _validate_vector_field_lengths, to_naive_utc
from feast.value_type import ValueType

ENGINE = "smartstack.featurestore.bulk.BulkComputeEngine"
BATCH_ROWS = 10_000  # entities per online_write_batch call

# One row as ``online_write_batch`` takes it: key, values by feature, event and created time.
OnlineRow = tuple[EntityKey, dict[str, Value], Any, Any]


class BulkComputeEngineConfig(FeastConfigBaseModel):
    """The engine's settings in Feast's ``batch_engine`` block."""

    type: str = ENGINE
    backend: str | None = None
    batch_rows: int = BATCH_ROWS


# One constructor per proto field, called with a keyword (faster than ``Value(**{field: v})``).
_MAKE: dict[str, Callable[[Any], Value]] = {
    "double_val": lambda v: Value(double_val=v),
    "float_val": lambda v: Value(float_val=v),
    "int64_val": lambda v: Value(int64_val=int(v)),
    "int32_val": lambda v: Value(int32_val=int(v)),
}


def _scalars(field: str, values: list[Any], nan_possible: bool) -> list[Value]:
    """Feast: ``pd.isnull(v)`` gives an empty Value, else the field set (``int(v)`` for the
    integer fields: an Int column with nulls arrives as floats with NaN)."""
    if field == "double_val" and not nan_possible:
        return [Value(double_val=v) for v in values]
    if field == "double_val":  # NaN is the only float unequal to itself
        return [Value(double_val=v) if v == v else Value() for v in values]
    make = _MAKE[field]
    if nan_possible:
        return [make(v) if v == v else Value() for v in values]
    return [make(v) for v in values]


def _fast_kind(value_type: ValueType, arrow_type: pa.DataType) -> str | None:
    """Which fast conversion gives exactly Feast's protos for this column, if any."""
    numeric = pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
    if value_type == ValueType.DOUBLE and (
        pa.types.is_float64(arrow_type) or pa.types.is_int64(arrow_type)
    ):  # the only Arrow types Feast's DOUBLE check accepts
        return "double"
    if value_type == ValueType.FLOAT and numeric:
        return "float"
    if value_type in (ValueType.INT64, ValueType.INT32) and numeric:
        return "int"
    if value_type == ValueType.STRING and (
        pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    ):
        return "string"
    return None


def column_values(column: pa.Array, value_type: ValueType) -> list[Value]:
    """One column as the ``Value`` protos Feast's ``_convert_arrow_to_proto`` makes of it."""
    kind = _fast_kind(value_type, column.type)
    if kind is None:
        return python_values_to_proto_values(column.to_numpy(zero_copy_only=False), value_type)
    if kind == "string":
        return [Value() if v is None else Value(string_val=v) for v in column.to_pylist()]
    array = column.to_numpy(zero_copy_only=False)  # nulls → NaN, as Feast reads the column
    nan_possible = array.dtype.kind == "f"
    values = array.tolist()
    if kind == "double":
        return _scalars(
            "double_val", values if nan_possible else [float(v) for v in values], nan_possible
        )
    if kind == "float":
        return _scalars("float_val", values, nan_possible)
    return _scalars(
        "int64_val" if value_type == ValueType.INT64 else "int32_val", values, nan_possible
    )


def _texts(column: pa.Array, value_type: ValueType, values: list[Value]) -> list[str | None]:
    """SQLite's ``value_text`` of each value: what Feast's ``extract_text_and_num`` gives
    (``str`` of the proto's number, the string itself, None when empty), per column."""
    kind = _fast_kind(value_type, column.type)
    if kind is None:
        return [extract_text_and_num(v, False)[0] for v in values]
    if kind == "string":
        return column.to_pylist()
    array = column.to_numpy(zero_copy_only=False)
    if kind == "float":  # the proto holds a float32: its text is that of the rounded value
        array = array.astype(np.float32).astype(np.float64)
    elif kind == "double":
        array = array.astype(np.float64)
    numbers = array.tolist()
    if kind == "int":
        return [str(int(v)) if v == v else None for v in numbers]
    return [str(v) if v == v else None for v in numbers]


def _timestamps(batch: pa.RecordBatch, column: str) -> list[Any]:
    # As Feast: naive UTC datetimes, via pandas.
    stamps = pd.to_datetime(batch.column(column).to_numpy(zero_copy_only=False))
    return [_coerce_datetime(stamp) for stamp in stamps]


def online_rows(
    batch: pa.RecordBatch, view: Any, join_keys: dict[str, ValueType]
) -> list[OnlineRow]:
    """The rows Feast's ``_convert_arrow_to_proto`` makes of ``batch``, a column at a time."""
    features = {
        field.name: column_values(batch.column(field.name), field.dtype.to_value_type())
        for field in view.features
    }
    key_values = {name: column_values(batch.column(name), kind) for name, kind in join_keys.items()}
    names = list(join_keys)
    keys = [
        EntityKey(join_keys=names, entity_values=list(values))
        for values in zip(*key_values.values(), strict=True)
    ]
    values = [dict(zip(features, row, strict=True)) for row in zip(*features.values(), strict=True)]
    source = view.batch_source
    events = _timestamps(batch, source.timestamp_field)
    created = (
        _timestamps(batch, source.created_timestamp_column)
        if source.created_timestamp_column
        else [None] * batch.num_rows
    )
    return list(zip(keys, values, events, created, strict=True))


def write_online(
    online_store: Any,
    config: RepoConfig,
    view: Any,
    table: pa.Table,
    batch_rows: int = BATCH_ROWS,
) -> int:
    """Convert ``table`` (one row per entity) and write it through ``online_write_batch`` in
    batches of ``batch_rows`` entities; returns how many rows."""
    _validate_vector_field_lengths(table, view)
    join_keys = {entity.name: entity.dtype.to_value_type() for entity in view.entity_columns}
    table = table.combine_chunks()
    if isinstance(online_store, SqliteOnlineStore):
        table = table.take(_key_order(table, join_keys, config.entity_key_serialization_version))
    plain_sqlite = isinstance(online_store, SqliteOnlineStore) and _plain(config)
    for batch in table.to_batches(max_chunksize=batch_rows):
        if plain_sqlite:
            _write_sqlite(online_store, config, view, batch, join_keys)
            continue
        rows = online_rows(batch, view, join_keys)
        online_store.online_write_batch(config=config, table=view, data=rows, progress=None)
    return table.num_rows


def _plain(config: RepoConfig) -> bool:
    """A SQLite store whose rows are the six plain columns (no vectors, no ``value_num``)."""
    online = config.online_store
    return not getattr(online, "vector_enabled", False) and not getattr(
        online, "enable_openai_compatible_store", False
    )


def _write_sqlite(
    online_store: SqliteOnlineStore,
    config: RepoConfig,
    view: Any,
    batch: pa.RecordBatch,
    join_keys: dict[str, ValueType],
) -> None:
    """The rows ``SqliteOnlineStore.online_write_batch`` writes, in its table, with its upsert
    and its connection, as one ``executemany`` in one transaction instead of one ``execute`` a
    feature: entity key bytes, feature name, value proto bytes, value text, event and created
    time (naive UTC)."""
    version = config.entity_key_serialization_version
    rows = online_rows(batch, view, join_keys)
    columns = []
    for field in view.features:
        values = [by_name[field.name] for _, by_name, _, _ in rows]
        texts = _texts(batch.column(field.name), field.dtype.to_value_type(), values)
        columns.append((field.name, [v.SerializeToString() for v in values], texts))
    params = []
    for i, (key, _, event, created) in enumerate(rows):
        key_bytes = serialize_entity_key(key, entity_key_serialization_version=version)
        # sqlite3 would adapt each row's datetimes with the adapter Feast registers (epoch
        # seconds); adapting them once per entity stores the same values.
        event = sqlite3.adapt(to_naive_utc(event))
        created = None if created is None else sqlite3.adapt(to_naive_utc(created))
        params.extend(
            (key_bytes, name, blobs[i], texts[i], event, created) for name, blobs, texts in columns
        )
    table = compute_table_id(
        config.project, view, config.registry.enable_online_feature_view_versioning
    )
    upsert = (
        f'INSERT INTO "{table}" (entity_key, feature_name, value, value_text, event_ts, '
        "created_ts) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_key, feature_name) DO UPDATE "
        "SET value = excluded.value, value_text = excluded.value_text, "
        "event_ts = excluded.event_ts, created_ts = excluded.created_ts;"
    )
    conn = online_store._get_conn(config)
    with conn:
        conn.executemany(upsert, params)


def _key_order(table: pa.Table, join_keys: dict[str, ValueType], version: int) -> list[int]:
    """Row indexes in the order of the rows' serialized entity keys."""
    key_values = {name: column_values(table.column(name), kind) for name, kind in join_keys.items()}
    names = list(join_keys)
    blobs = [
        serialize_entity_key(
            EntityKey(join_keys=names, entity_values=list(values)),
            entity_key_serialization_version=version,
        )
        for values in zip(*key_values.values(), strict=True)
    ]
    return sorted(range(len(blobs)), key=blobs.__getitem__)


class BulkOutputNode(LocalOutputNode):
    """Feast's output node, writing online through :func:`write_online`."""

    def __init__(self, name: str, feature_view: Any, batch_rows: int, inputs: list) -> None:
        super().__init__(name, feature_view, inputs=inputs)
        self.batch_rows = batch_rows

    def execute(self, context: ExecutionContext) -> ArrowTableValue:
        table = self.get_single_table(context).data
        output = ArrowTableValue(data=table)
        context.node_outputs[self.name] = output
        if table.num_rows == 0:
            return output
        view = self.feature_view
        if view.online:
            write_online(context.online_store, context.repo_config, view, table, self.batch_rows)
        if view.offline:  # as Feast's own node
            context.offline_store.offline_write_batch(
                config=context.repo_config, feature_view=view, table=table, progress=_ignore
            )
        return output


def _ignore(_: int) -> None:
    return None


class _BulkFeatureBuilder(LocalFeatureBuilder):
    def __init__(self, *args: Any, batch_rows: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_rows = batch_rows

    def build_output_nodes(self, view: Any, input_node: Any) -> BulkOutputNode:
        node = BulkOutputNode("output", self.dag_root.view, self.batch_rows, [input_node])
        self.nodes.append(node)
        return node


class BulkComputeEngine(LocalComputeEngine):
    """Feast's local engine with :class:`BulkOutputNode` as the plan's last step."""

    def __init__(self, batch_rows: int = BATCH_ROWS, **kwargs: Any) -> None:
        kwargs.pop("type", None)
        super().__init__(**kwargs)
        self.batch_rows = batch_rows

    def _materialize_one(
        self, registry: BaseRegistry, task: MaterializationTask, **kwargs: Any
    ) -> LocalMaterializationJob:
        job_id = f"{task.feature_view.name}-{task.start_time}-{task.end_time}"
        configured = self.repo_config.materialization_config.online_write_batch_size
        try:
            context = self.get_execution_context(registry, task)
            builder = _BulkFeatureBuilder(
                registry,
                task,
                backend=self._get_backend(context),
                batch_rows=configured or self.batch_rows,
            )
            builder.build().execute(context)
        except Exception as error:  # as Feast's engine: the provider raises it
            return LocalMaterializationJob(
                job_id=job_id, status=MaterializationJobStatus.ERROR, error=error
            )
        return LocalMaterializationJob(job_id=job_id, status=MaterializationJobStatus.SUCCEEDED)
