"""Feast's Redis hashes, written from whole columns.

``RedisOnlineStore.online_write_batch`` reads every entity's ``_ts:<view>`` field (one pipeline
of HMGET), skips an entity whose stored time is as new or newer, and sets the others' hash
fields: the time as a protobuf ``Timestamp`` and, per feature, the murmur hash of
``<view>:<feature>`` to the serialized ``Value`` (with an EXPIRE when ``key_ttl_seconds`` is
set). It hashes the field name, serializes the value and packs the command anew for every
value. This sends the same commands: each field name hashed once per view, values encoded a
column at a time (:mod:`smartstack.featurestore.bulk.values`), times converted once per
distinct time, and the commands of :data:`SLICE` entities packed as one buffer by Arrow
(:mod:`smartstack.featurestore.bulk.resp`) while the server applies the previous slice.

It covers a single Redis server (:func:`supports`); a cluster or sentinel setup keeps Feast's
own write.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
from feast import FeatureView
from feast.infra.online_stores.helpers import _mmh3
from feast.infra.online_stores.redis import RedisOnlineStore, RedisType, _versioned_fv_name
from feast.repo_config import RepoConfig
from feast.utils import make_tzaware
from google.protobuf.timestamp_pb2 import Timestamp

from smartstack.featurestore.bulk.resp import commands, concatenated, wire
from smartstack.featurestore.bulk.values import (
    SLICE,
    column_blobs,
    distinct,
    entity_keys,
    feast_times,
)

_NANOS = 1_000_000_000


def supports(config: RepoConfig) -> bool:
    return config.online_store.redis_type == RedisType.redis


def _stamps(column: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Each row's time as Feast stores it (a serialized ``Timestamp``) and the nanoseconds it
    compares, converted once per distinct time."""
    values = column.to_numpy(zero_copy_only=False)
    codes, first = distinct(values)
    stamps = [Timestamp() for _ in first]
    for stamp, moment in zip(stamps, feast_times(values[first]), strict=True):
        stamp.FromDatetime(make_tzaware(moment))
    serialized = pa.array([stamp.SerializeToString() for stamp in stamps], pa.binary())
    nanos = np.array([stamp.seconds * _NANOS + stamp.nanos for stamp in stamps], dtype=np.int64)
    return serialized.take(codes), nanos[codes]


def _nanos(stored: bytes) -> int:
    stamp = Timestamp()
    stamp.ParseFromString(stored)
    return stamp.seconds * _NANOS + stamp.nanos


def _run(client: Any, batches: Iterable[pa.Array], per_row: int = 1) -> list[Any]:
    """Each reply of the batches' commands (``per_row`` commands in each packed row), sent on
    one connection. A batch's replies are read
    only once the next batch is sent, so the server executes one batch while this process packs
    the next (a pipeline waits for each batch's replies). An error reply raises, as in a
    pipeline."""
    pool = client.connection_pool
    connection = pool.get_connection()
    replies: list[Any] = []
    try:
        unread = 0
        for packed in batches:
            connection.send_packed_command([wire(packed)])
            replies += [connection.read_response() for _ in range(unread)]
            unread = per_row * len(packed)
        replies += [connection.read_response() for _ in range(unread)]
    except BaseException:
        connection.disconnect()  # replies may be left unread: the connection is unusable
        raise
    finally:
        pool.release(connection)
    return replies


def _slices(rows: int) -> Iterator[slice]:
    return (slice(start, start + SLICE) for start in range(0, rows, SLICE))


def _newer(client: Any, keys: pa.Array, ts_field: bytes, nanos: np.ndarray) -> list[int]:
    """Rows Feast would write: newer than the stored time and than an earlier row of the
    same entity in this batch."""
    reads = (commands(b"HMGET", [keys[part], ts_field]) for part in _slices(len(keys)))
    stored = [fields[0] for fields in _run(client, reads)]
    latest: dict[bytes, int] = {}
    keep = []
    for i, (key, before) in enumerate(zip(keys.to_pylist(), stored, strict=True)):
        seen = max(_nanos(before) if before else 0, latest.get(key, 0))
        if seen and nanos[i] <= seen:
            continue
        latest[key] = int(nanos[i])
        keep.append(i)
    return keep


def write(store: RedisOnlineStore, config: RepoConfig, view: FeatureView, table: pa.Table) -> None:
    """Write ``table`` (one row per entity) into the entities' hashes, as Feast would."""
    online = config.online_store
    client = store._get_client(online)
    name = _versioned_fv_name(view, config)
    ts_field = f"_ts:{name}".encode()
    join_keys = {e.name: e.dtype.to_value_type() for e in view.entity_columns}
    project = config.project.encode()
    serialized = entity_keys(table, join_keys, config.entity_key_serialization_version)
    keys = pa.array([key + project for key in serialized], pa.binary())
    stamps, nanos = _stamps(table.column(view.batch_source.timestamp_field))
    if not online.skip_dedup:
        keep = _newer(client, keys, ts_field, nanos)
        if not keep:
            return
        if len(keep) < len(keys):
            rows = pa.array(keep, pa.int64())
            table, keys, stamps = table.take(rows), keys.take(rows), stamps.take(rows)
    fields = [(_mmh3(f"{name}:{field.name}"), field) for field in view.features]
    ttl = online.key_ttl_seconds
    hsets = (  # packed as the connection takes them, a slice at a time
        _hsets(table[part], keys[part], stamps[part], ts_field, fields, ttl)
        for part in _slices(table.num_rows)
    )
    _run(client, hsets, per_row=2 if ttl else 1)


def _hsets(
    table: pa.Table,
    keys: pa.Array,
    stamps: pa.Array,
    ts_field: bytes,
    fields: list[tuple[bytes, Any]],
    ttl: int | None,
) -> pa.Array:
    """Each entity's HSET (key, time field and time, then field and value per feature),
    followed by its EXPIRE when the store sets a time to live."""
    arguments: list[pa.Array | bytes] = [keys, ts_field, stamps]
    for hashed, field in fields:
        arguments += [hashed, column_blobs(table.column(field.name), field.dtype.to_value_type())]
    hsets = commands(b"HSET", arguments)
    if not ttl:
        return hsets
    return concatenated([hsets, commands(b"EXPIRE", [keys, str(ttl).encode()])])
