"""Feast's SQLite online rows, written one statement per entity instead of one per feature.

``SqliteOnlineStore.online_write_batch`` upserts one row per (entity, feature): entity-key bytes,
feature name, serialized ``Value``, its text, and the event and created times as SQLite adapts
them, all in one transaction. Binding and stepping a statement per row costs more than SQLite's
own B-tree work, so this writes the same rows with the same upsert, in the same transaction on
the store's own connection, as one multi-row ``VALUES`` statement per entity (the entity key and
times bound once, two parameters per feature), entities in key order and features in name order,
so the table and both its indexes grow at their ends. Rows are encoded :data:`SLICE` entities
at a time. Blobs are bound as ``bytearray``: ``sqlite3`` binds ``str``, ``int``, ``float`` and
``bytearray`` as they are but looks for an adapter for every other value, ``bytes`` included,
which costs more than the copy (``docs/benchmarks.md``, "Bulk materialization").

It covers the store as ``smartstack.featurestore.config`` configures it; with vectors or the
``value_num`` column, or more features than one statement binds (:func:`supports`), Feast's own
write runs instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pyarrow as pa
from feast import FeatureView, Field
from feast.infra.online_stores.sqlite import SqliteOnlineStore, _quote_id, _table_id
from feast.repo_config import RepoConfig
from feast.utils import to_naive_utc

from smartstack.featurestore.bulk.values import SLICE, encode_column, entity_keys, row_times

# Columns and conflict handling of Feast's upsert without vectors or value_num.
_COLUMNS = "entity_key, feature_name, value, value_text, event_ts, created_ts"
_ON_CONFLICT = (
    "ON CONFLICT(entity_key, feature_name) DO UPDATE SET value = excluded.value, "
    "value_text = excluded.value_text, event_ts = excluded.event_ts, "
    "created_ts = excluded.created_ts"
)


def supports(store: SqliteOnlineStore, config: RepoConfig, view: FeatureView) -> bool:
    """Plain rows (no vectors, no ``value_num``) and few enough features for one statement."""
    online = config.online_store
    if online.vector_enabled or online.enable_openai_compatible_store:
        return False
    limit = store._get_conn(config).getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return 3 + 2 * len(view.features) <= limit


def _adapted(moment: object) -> object:
    """What sqlite3 stores for Feast's time (the adapter Feast registers: epoch seconds)."""
    return sqlite3.adapt(to_naive_utc(moment))


def write(store: SqliteOnlineStore, config: RepoConfig, view: FeatureView, table: pa.Table) -> None:
    """Upsert ``table`` (one row per entity) into the view's SQLite table, as Feast would."""
    join_keys = {e.name: e.dtype.to_value_type() for e in view.entity_columns}
    keys = entity_keys(table, join_keys, config.entity_key_serialization_version)
    order = sorted(range(len(keys)), key=keys.__getitem__)
    table, keys = table.take(pa.array(order, pa.int64())), [keys[i] for i in order]
    features = sorted(view.features, key=lambda field: field.name)
    name = _table_id(config.project, view, config.registry.enable_online_feature_view_versioning)
    rows = ", ".join(
        f"(?1, {_literal(field.name)}, ?{4 + 2 * i}, ?{5 + 2 * i}, ?2, ?3)"
        for i, field in enumerate(features)
    )
    statement = f"INSERT INTO {_quote_id(name)} ({_COLUMNS}) VALUES {rows} {_ON_CONFLICT}"
    connection = store._get_conn(config)
    with connection:
        for start in range(0, table.num_rows, SLICE):
            part = table.slice(start, SLICE)
            params = _parameters(part, keys[start : start + SLICE], view, features)
            connection.executemany(statement, params)


def _parameters(
    table: pa.Table, keys: list[bytes], view: FeatureView, features: list[Field]
) -> Iterator[tuple]:
    """Each entity's parameters: key, event and created time, then value and text per feature
    (blobs as ``bytearray``, which ``sqlite3`` binds without an adapter lookup)."""
    source = view.batch_source
    columns: list[list] = [
        list(map(bytearray, keys)),
        row_times(table.column(source.timestamp_field), _adapted),
        row_times(table.column(source.created_timestamp_column), _adapted)
        if source.created_timestamp_column
        else [None] * table.num_rows,
    ]
    for field in features:
        encoded = encode_column(table.column(field.name), field.dtype.to_value_type())
        columns += [list(map(bytearray, encoded.blobs)), encoded.texts]
    return zip(*columns, strict=True)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
