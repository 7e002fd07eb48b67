"""Every feature view of one entity in one round trip, in Feast's own storage layout.

Feast's ``online_read`` reads one view per call and wraps each value and timestamp in several
layers of conversion: for a customer's three views that is three queries and about half a
millisecond on SQLite, three round trips on Redis. The ranking service reads the same views for
every request, so these readers fetch all of an entity's views at once from the tables and hashes
Feast itself writes when it materializes (same table names, entity-key bytes and value protos),
and enforce the serving deadline in the store's client (SQLite's busy timeout, Redis socket
timeouts) rather than on a thread pool. ``tests/featurestore`` compares them, value for value,
with Feast's ``online_read`` on both stores.

Reading Feast's layout means using three of its private names: ``_mmh3`` from
``feast.infra.online_stores.helpers`` (the Redis hash field of a feature),
``SqliteOnlineStore._get_db_path`` (the SQLite file) and
``RedisOnlineStore._parse_connection_string`` (the Redis client's arguments). They are why
``pyproject.toml`` holds feast to ``>=0.67,<0.68``. ``tests/featurestore/test_private_apis.py``
checks each one without a database and fails, naming the installed version and what to re-check,
when an upgrade changes it; ``test_one_round_trip_rows_equal_feasts_online_read`` in
``tests/featurestore/test_feature_store.py`` checks the layout on SQLite and Redis.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import redis
from feast import FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import _mmh3, compute_table_id
from feast.infra.online_stores.redis import RedisOnlineStore, RedisType
from feast.infra.online_stores.sqlite import SqliteOnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.repo_config import RepoConfig
from google.protobuf.timestamp_pb2 import Timestamp
from redis.backoff import NoBackoff
from redis.retry import Retry


@dataclass(frozen=True)
class ViewRead:
    """One feature view as the reader needs it."""

    view: FeatureView
    join_key: str
    features: list[str]
    streamed: bool  # fed by a push source: updated continuously, not by materialization


class ReadTimeout(TimeoutError):
    """The online store did not answer within the serving deadline."""


# One entity's values by feature name (None where missing) and the newest event time among its
# batch (not streamed) views, naive UTC; None when the entity has no batch row.
Row = tuple[dict[str, Any], datetime | None]


class EntityRows(Protocol):
    """Reads every view of one entity type for a list of entity ids."""

    def read(self, ids: Sequence[str]) -> list[Row]: ...

    def version(self, entity_id: str) -> Hashable:
        """A value that changes whenever the entity's rows may have changed: what a ranking
        computed from them is kept against (:mod:`smartstack.serving.ranking_cache`)."""

    def close(self) -> None: ...


def python_value(value: Value) -> Any:
    """A Feast value proto as a plain Python value (None for a missing or null value)."""
    kind = value.WhichOneof("val")
    return None if kind is None or kind == "null_val" else getattr(value, kind)


def _decode(blob: bytes | None) -> Any:
    return None if not blob else python_value(Value.FromString(blob))


def entity_key(join_key: str, value: str) -> EntityKey:
    key = EntityKey()
    key.join_keys.append(join_key)
    key.entity_values.add().string_val = value
    return key


def _newest(current: datetime | None, stamp: datetime) -> datetime:
    return stamp if current is None or stamp > current else current


class SqliteRows:
    """All views of one entity from Feast's SQLite online store: one ``UNION ALL`` query.

    One read-only connection per thread (the service reads on its event loop, the precompute
    job and ``/explain`` on worker threads). ``timeout_s`` bounds the wait for a writer's lock.
    """

    def __init__(
        self, path: str, config: RepoConfig, views: Sequence[ViewRead], timeout_s: float
    ) -> None:
        self._uri = f"file:{path}?mode=ro"
        self._timeout = timeout_s
        self._views = list(views)
        self._serialization = config.entity_key_serialization_version
        self._join_key = views[0].join_key
        self._wanted = [set(v.features) for v in views]
        self._streamed = [v.streamed for v in views]
        self._tables = [
            compute_table_id(config.project, v.view, versioned(config)) for v in self._views
        ]
        self._local = threading.local()
        self._queries: dict[int, str] = {}  # query text by number of ids

    def _sql(self, n: int) -> str:
        if n not in self._queries:
            marks = ",".join("?" * n)
            self._queries[n] = " UNION ALL ".join(
                f"SELECT {i}, entity_key, feature_name, value, event_ts "
                f'FROM "{table}" WHERE entity_key IN ({marks})'
                for i, table in enumerate(self._tables)
            )
        return self._queries[n]

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._uri, uri=True, timeout=self._timeout, check_same_thread=False
            )
            self._local.conn = conn
        return conn

    def version(self, entity_id: str) -> Hashable:
        """SQLite's ``data_version`` of this thread's connection, which changes whenever another
        connection commits to the file: any write to the online store (a materialization, a
        pushed event, an erasure), whichever entity it touched. Feast's SQLite store overwrites
        a row whatever its event time, so no per-entity timestamp would be exact."""
        try:
            (number,) = self._connection().execute("PRAGMA data_version").fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise ReadTimeout(str(exc)) from exc
            raise
        return threading.get_ident(), number

    def read(self, ids: Sequence[str]) -> list[Row]:
        keys = [
            serialize_entity_key(entity_key(self._join_key, i), self._serialization) for i in ids
        ]
        position = {key: p for p, key in enumerate(keys)}
        values: list[dict[str, Any]] = [
            dict.fromkeys(f for v in self._views for f in v.features) for _ in ids
        ]
        try:
            rows = self._connection().execute(self._sql(len(keys)), keys * len(self._tables))
            fetched = rows.fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):  # a writer held the lock for longer than the deadline
                raise ReadTimeout(str(exc)) from exc
            raise
        newest: dict[int, int] = {}  # entity position -> newest batch event time, epoch seconds
        for view, key, name, blob, event_ts in fetched:
            if name not in self._wanted[view]:
                continue  # a feature dropped from the view since it was materialized
            p = position[key]
            values[p][name] = _decode(blob)
            if event_ts is not None and not self._streamed[view]:
                newest[p] = max(newest.get(p, event_ts), event_ts)
        # Feast stores naive UTC as epoch seconds through the local clock (its own converter
        # reads them back with ``datetime.fromtimestamp``): the same here.
        as_of = [
            datetime.fromtimestamp(int(newest[p])) if p in newest else None for p in range(len(ids))
        ]
        return list(zip(values, as_of, strict=True))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()


class RedisRows:
    """All views of one entity from Feast's Redis online store: one ``HMGET`` per entity.

    Feast keeps every view of an entity in one hash (fields ``mmh3("<view>:<feature>")`` and
    ``_ts:<view>``), so a customer's views come back in one command. The client has socket
    timeouts of ``timeout_s`` and no retries: a slow Redis costs one deadline, then the fallback.
    """

    def __init__(self, client: redis.Redis, config: RepoConfig, views: Sequence[ViewRead]) -> None:
        if versioned(config):
            raise ValueError("versioned online feature views are not supported by RedisRows")
        self._redis = client
        self._views = list(views)
        self._join_key = views[0].join_key
        self._serialization = config.entity_key_serialization_version
        self._project = config.project.encode()
        self._names = [f for v in self._views for f in v.features]
        self._fields = [_mmh3(f"{v.view.name}:{f}") for v in self._views for f in v.features]
        self._stamps = [f"_ts:{v.view.name}".encode() for v in self._views]
        self._fields += self._stamps

    def _key(self, entity_id: str) -> bytes:
        key = entity_key(self._join_key, entity_id)
        return serialize_entity_key(key, self._serialization) + self._project

    def version(self, entity_id: str) -> Hashable:
        """The event time of each of the entity's views (``_ts:<view>``), as stored. Feast's
        Redis store writes a view's values only with a newer event time than the stored one,
        and an erasure deletes the hash, so the same times mean the same values."""
        try:
            return tuple(self._redis.hmget(self._key(entity_id), self._stamps))
        except redis.TimeoutError as exc:
            raise ReadTimeout(str(exc)) from exc

    def read(self, ids: Sequence[str]) -> list[Row]:
        try:
            if len(ids) == 1:
                replies = [self._redis.hmget(self._key(ids[0]), self._fields)]
            else:
                with self._redis.pipeline(transaction=False) as pipe:
                    for entity_id in ids:
                        pipe.hmget(self._key(entity_id), self._fields)
                    replies = pipe.execute()
        except redis.TimeoutError as exc:
            raise ReadTimeout(str(exc)) from exc
        n = len(self._names)
        rows: list[Row] = []
        for reply in replies:
            values = {
                name: _decode(blob) for name, blob in zip(self._names, reply[:n], strict=True)
            }
            as_of = None
            for view, stamp in zip(self._views, reply[n:], strict=True):
                if stamp and not view.streamed:
                    ts = Timestamp.FromString(stamp)
                    moment = datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, UTC)
                    as_of = _newest(as_of, moment.replace(tzinfo=None))
            rows.append((values, as_of))
        return rows

    def close(self) -> None:
        self._redis.close()


def versioned(config: RepoConfig) -> bool:
    return bool(getattr(config.registry, "enable_online_feature_view_versioning", False))


def entity_rows(config: RepoConfig, views: Sequence[ViewRead], timeout_s: float) -> EntityRows:
    """The reader for the configured online store (SQLite or single-node Redis)."""
    store = config.online_store
    if store.type == "sqlite":
        return SqliteRows(SqliteOnlineStore._get_db_path(config), config, views, timeout_s)
    if store.type == "redis" and store.redis_type == RedisType.redis:
        nodes, options = RedisOnlineStore._parse_connection_string(store.connection_string)
        client = redis.Redis(
            host=nodes[0]["host"],
            port=int(nodes[0]["port"]),
            **options,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        return RedisRows(client, config, views)
    raise ValueError(
        f"online store {store.type!r} ({getattr(store, 'redis_type', '')}) is not supported by "
        "the serving reader: use sqlite or a single Redis node"
    )
