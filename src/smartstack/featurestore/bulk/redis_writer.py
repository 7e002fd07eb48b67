"""Feast's Redis hashes, written from whole columns.

``RedisOnlineStore.online_write_batch`` reads every entity's ``_ts:<view>`` field (one pipeline
of HMGET), skips an entity whose stored time is as new or newer, and sets the others' hash
fields: the time as a protobuf ``Timestamp`` and, per feature, the murmur hash of
``<view>:<feature>`` to the serialized ``Value`` (with an EXPIRE when ``key_ttl_seconds`` is
set). It hashes the field name and serializes the value anew for every value. This does the
same reads, the same check and the same HSET commands, pipelined (:func:`_run`),
with each field name hashed once per view, values encoded a column at a time
(:mod:`smartstack.featurestore.bulk.values`), :data:`SLICE` entities at a time while the server
writes the previous ones, and times converted once per distinct time.

It covers a single Redis server (:func:`supports`); a cluster or sentinel setup keeps Feast's
own write.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain, islice, repeat
from typing import Any

import pyarrow as pa
from feast import FeatureView
from feast.infra.online_stores.helpers import _mmh3
from feast.infra.online_stores.redis import RedisOnlineStore, RedisType, _versioned_fv_name
from feast.repo_config import RepoConfig
from feast.utils import make_tzaware
from google.protobuf.timestamp_pb2 import Timestamp

from smartstack.featurestore.bulk.values import SLICE, encode_column, entity_keys, row_times

CHUNK = 1000  # entities per pipeline round trip

_NANOS = 1_000_000_000


def supports(config: RepoConfig) -> bool:
    return config.online_store.redis_type == RedisType.redis


def _stamp(moment: Any) -> tuple[bytes, int]:
    """Feast's stored time of a row and the nanoseconds it compares."""
    stamp = Timestamp()
    stamp.FromDatetime(make_tzaware(moment))
    return stamp.SerializeToString(), stamp.seconds * _NANOS + stamp.nanos


def _nanos(stored: bytes) -> int:
    stamp = Timestamp()
    stamp.ParseFromString(stored)
    return stamp.seconds * _NANOS + stamp.nanos


def _run(client: Any, commands: Iterable[tuple]) -> list[Any]:
    """Each command's reply. Commands go out in chunks of :data:`CHUNK` on one connection, and
    a chunk's replies are read only once the next chunk is sent, so the server executes one
    chunk while this process packs the next (a pipeline waits for each chunk's replies).
    An error reply raises, as in a pipeline."""
    pool = client.connection_pool
    connection = pool.get_connection()
    replies: list[Any] = []
    try:
        unread = 0
        commands = iter(commands)
        while chunk := list(islice(commands, CHUNK)):
            connection.send_packed_command(connection.pack_commands(chunk))
            replies += [connection.read_response() for _ in range(unread)]
            unread = len(chunk)
        replies += [connection.read_response() for _ in range(unread)]
    except BaseException:
        connection.disconnect()  # replies may be left unread: the connection is unusable
        raise
    finally:
        pool.release(connection)
    return replies


def _newer(client: Any, keys: list[bytes], ts_key: str, nanos: list[int]) -> list[int]:
    """Rows Feast would write: newer than the stored time and than an earlier row of the
    same entity in this batch."""
    stored = [fields[0] for fields in _run(client, (("HMGET", key, ts_key) for key in keys))]
    latest: dict[bytes, int] = {}
    keep = []
    for i, (key, before) in enumerate(zip(keys, stored, strict=True)):
        seen = max(_nanos(before) if before else 0, latest.get(key, 0))
        if seen and nanos[i] <= seen:
            continue
        latest[key] = nanos[i]
        keep.append(i)
    return keep


def write(store: RedisOnlineStore, config: RepoConfig, view: FeatureView, table: pa.Table) -> None:
    """Write ``table`` (one row per entity) into the entities' hashes, as Feast would."""
    online = config.online_store
    client = store._get_client(online)
    name = _versioned_fv_name(view, config)
    ts_key = f"_ts:{name}"
    join_keys = {e.name: e.dtype.to_value_type() for e in view.entity_columns}
    project = config.project.encode()
    keys = [
        key + project
        for key in entity_keys(table, join_keys, config.entity_key_serialization_version)
    ]
    stamps = row_times(table.column(view.batch_source.timestamp_field), _stamp)
    if not online.skip_dedup:
        keep = _newer(client, keys, ts_key, [nanos for _, nanos in stamps])
        if not keep:
            return
        if len(keep) < len(keys):
            table = table.take(pa.array(keep, pa.int64()))
            keys = [keys[i] for i in keep]
            stamps = [stamps[i] for i in keep]
    parts = (slice(start, start + SLICE) for start in range(0, table.num_rows, SLICE))
    hsets = chain.from_iterable(  # encoded as the pipeline takes them, a slice at a time
        _hsets(table.slice(part.start, SLICE), keys[part], stamps[part], name, view)
        for part in parts
    )
    if online.key_ttl_seconds:
        ttl = online.key_ttl_seconds
        _run(client, chain.from_iterable((hset, ("EXPIRE", hset[1], ttl)) for hset in hsets))
    else:
        _run(client, hsets)


def _hsets(
    table: pa.Table, keys: list[bytes], stamps: list[tuple[bytes, int]], name: str, view: Any
) -> Iterator[tuple]:
    """Each entity's HSET: key, time field and time, then field and value per feature."""
    columns: list[Any] = [repeat("HSET"), keys, repeat(f"_ts:{name}"), [s for s, _ in stamps]]
    for field in view.features:
        encoded = encode_column(table.column(field.name), field.dtype.to_value_type(), texts=False)
        columns += [repeat(_mmh3(f"{name}:{field.name}")), encoded.blobs]
    return zip(*columns, strict=False)  # the repeated names end with the rows
