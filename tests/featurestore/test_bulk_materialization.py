"""The bulk materialization (smartstack.featurestore.bulk) writes exactly what Feast's engine writes.

Unit checks first: a column's value bytes and SQLite texts, and the entity keys, against Feast's
own converter and key serialization, on the edge cases (nulls, NaN, negative zero, integers in
a double column, empty and non-ASCII strings, timestamps, lists). Then the session's data set is
materialized with Feast's ``local`` engine and with the bulk engine (encoding 500 entities at a
time, so in several slices), into two SQLite files and into two databases of a private
redis-server, in three steps: a first load up to five days before the snapshot, the last ten
days up to the snapshot (newer rows over older ones, and rows no newer than those stored), and
the same ten days again (only rows no newer than stored). Every online row must be the same
bytes (SQLite: every column; Redis: every hash field), the registries must record the same
materialization intervals, and Feast's ``get_online_features`` and the serving reader must
read the same values. Last, the Redis options that data set does not use (a time to live,
``skip_dedup``) on a small table against Feast's ``online_write_batch``.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import redis as redis_client
from feast import Entity, FeatureStore, FeatureView, Field, FileSource
from feast.infra.compute_engines.local.compute import LocalComputeEngine
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import extract_text_and_num
from feast.infra.online_stores.redis import RedisOnlineStore
from feast.infra.online_stores.sqlite import SqliteOnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.repo_config import RepoConfig
from feast.type_map import python_values_to_proto_values
from feast.types import Float64, Int64, String
from feast.utils import _convert_arrow_to_proto
from feast.value_type import ValueType

from smartstack.featurestore import store
from smartstack.featurestore.bulk import redis_writer, sqlite_writer
from smartstack.featurestore.bulk.engine import BulkComputeEngine, bulk_writer
from smartstack.featurestore.bulk.resp import commands, concatenated, wire
from smartstack.featurestore.bulk.values import column_blobs, encode_column, entity_keys
from smartstack.featurestore.config import repo_config
from smartstack.featurestore.online import OnlineFeatureReader
from smartstack.settings import Settings

SAMPLE_CUSTOMERS = [f"CUST-{i:07d}" for i in range(0, 1200, 53)]
OFFERS = ["OFR-001", "OFR-012", "OFR-023", "OFR-031", "OFR-052", "OFR-063"]
STAMPS = [datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), None, datetime(1969, 12, 31, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("column", "value_type"),
    [
        (pa.array([1.5, None, float("nan"), -0.0, 0.0, 1e300, float("-inf")]), ValueType.DOUBLE),
        (pa.array([0, 2, 0, -5, 2**53 + 1], pa.int64()), ValueType.DOUBLE),
        (pa.array([3, None, 0], pa.int64()), ValueType.DOUBLE),
        (pa.array([None, None], pa.float64()), ValueType.DOUBLE),
        (pa.array([1.25, None, 0.1, -0.0, 0.0, 3.4e39], pa.float64()), ValueType.FLOAT),
        (pa.array([1.25, None, 0.1], pa.float32()), ValueType.FLOAT),
        (pa.array([1, None, -3, 1, -(2**63)], pa.int64()), ValueType.INT64),
        (pa.array([0, 2, 3, 2], pa.int32()), ValueType.INT32),
        (pa.array([2.0, None, 3.7, 2.0], pa.float64()), ValueType.INT64),
        (pa.array(["a", None, "", "é☕", "a"], pa.string()), ValueType.STRING),
        (pa.array([None, None], pa.string()), ValueType.STRING),
        (pa.array([True, None, False, True]), ValueType.BOOL),
        (pa.array(STAMPS, pa.timestamp("us", "UTC")), ValueType.UNIX_TIMESTAMP),
        (pa.array([[1.5, 2.0], None, [], [1.5, 2.0]]), ValueType.DOUBLE_LIST),
        (pa.array([["a"], ["b", "c"], None]), ValueType.STRING_LIST),
    ],
)
def test_a_column_encodes_as_feasts_protos_and_texts(column, value_type) -> None:
    theirs = python_values_to_proto_values(column.to_numpy(zero_copy_only=False), value_type)
    ours = encode_column(column, value_type)
    assert ours.blobs == [v.SerializeToString() for v in theirs]
    assert ours.texts == [extract_text_and_num(v, False)[0] for v in theirs]
    assert column_blobs(column, value_type).to_pylist() == ours.blobs


def test_commands_pack_as_redis_py_packs_them() -> None:
    keys = pa.array([b"k1", b"", "é☕".encode(), b"\r\n$3"], pa.binary())
    values = pa.array([b"\x09\x00", b"", b"x" * 300, b"*2"], pa.binary())
    packed = concatenated(
        [commands(b"HSET", [keys, b"_ts:v", values]), commands(b"EXPIRE", [keys, b"60"])]
    )
    connection = redis_client.Connection()
    for start in (0, 1):  # whole, and a slice that does not start at the buffer's start
        rows = zip(keys.to_pylist()[start:], values.to_pylist()[start:], strict=True)
        args = [c for k, v in rows for c in (("HSET", k, "_ts:v", v), ("EXPIRE", k, 60))]
        assert bytes(wire(packed[start:])) == b"".join(connection.pack_commands(args))


def test_a_null_argument_is_refused_not_packed() -> None:
    with pytest.raises(ValueError, match="null"):
        commands(b"HSET", [pa.array([b"k", None], pa.binary()), b"f", b"v"])


@pytest.mark.parametrize(
    ("columns", "join_keys"),
    [
        ({"customer_id": ["CUST-0000001", "", "é☕"]}, {"customer_id": ValueType.STRING}),
        ({"offer_id": [7, -1, 2**40]}, {"offer_id": ValueType.INT64}),
        (
            {"offer_id": ["OFR-1", "OFR-2"], "customer_id": ["C-1", "C-2"]},
            {"offer_id": ValueType.STRING, "customer_id": ValueType.STRING},
        ),
    ],
)
def test_entity_keys_are_feasts_serialization(columns, join_keys) -> None:
    table = pa.table(columns)
    protos = {
        name: python_values_to_proto_values(table.column(name).to_numpy(), kind)
        for name, kind in join_keys.items()
    }
    theirs = [
        serialize_entity_key(EntityKey(join_keys=list(join_keys), entity_values=list(row)), 3)
        for row in zip(*protos.values(), strict=True)
    ]
    assert entity_keys(table, join_keys, 3) == theirs


@pytest.mark.parametrize(
    ("online", "covered"),
    [
        ({"type": "sqlite"}, True),
        ({"type": "sqlite", "vector_enabled": True}, False),
        ({"type": "sqlite", "enable_openai_compatible_store": True}, False),
        ({"type": "redis"}, True),
        ({"type": "redis", "redis_type": "redis_cluster"}, False),
        ({"type": "redis", "redis_type": "redis_sentinel"}, False),
    ],
)
def test_stores_the_writers_do_not_cover_keep_feasts_write(online, covered, tmp_path) -> None:
    if online["type"] == "sqlite":
        online = {**online, "path": str(tmp_path / "online.db")}
    config = RepoConfig(
        project="bulk",
        provider="local",
        registry=str(tmp_path / "registry.db"),
        online_store=online,
        entity_key_serialization_version=3,
    )
    view = FeatureView(name="v", entities=[], schema=[Field(name="x", dtype=Float64)], source=None)
    online_store = SqliteOnlineStore() if online["type"] == "sqlite" else RedisOnlineStore()
    assert (bulk_writer(online_store, config, view) is not None) is covered


def _materialize_in_three_steps(settings: Settings, fs: FeatureStore) -> None:
    end = store.snapshot_time(settings) + timedelta(seconds=1)
    store.materialize(settings, end - timedelta(days=5))  # first load of every view
    # Newer rows over older ones, and rows no newer than those stored (Redis skips them) ...
    fs.materialize(start_date=end - timedelta(days=10), end_date=end)
    fs.materialize(start_date=end - timedelta(days=10), end_date=end)  # ... then only those


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def both_ways(request, feature_data: Path, use_settings, tmp_path_factory):
    """(Feast's engine, bulk engine): the settings and store of each, both materialized."""
    configured: list[tuple[Settings, FeatureStore]] = []
    for db, materialization in ((1, "feast"), (2, "bulk")):
        home = tmp_path_factory.mktemp(f"bulk-{request.param}-{materialization}")
        env = {
            "SMARTSTACK_HOME": str(home),
            "SMARTSTACK_DATA_DIR": str(feature_data),
            "SMARTSTACK_ONLINE_STORE": request.param,
            "SMARTSTACK_MATERIALIZATION": materialization,
        }
        if request.param == "redis":
            server = request.getfixturevalue("redis")  # private: its databases are ours
            env["REDIS_URL"] = f"redis://127.0.0.1:{server.port}/{db}"
        settings = use_settings(**env)
        store.apply(settings)
        fs = store.get_store(settings)
        with pytest.MonkeyPatch.context() as patch:  # several slices, the last one short
            for writer in (sqlite_writer, redis_writer):
                patch.setattr(writer, "SLICE", 500)
            _materialize_in_three_steps(settings, fs)
        configured.append((settings, fs))
    return request.param, configured


def test_the_setting_chooses_the_engine(both_ways) -> None:
    _, ((_, feasts), (_, bulk)) = both_ways
    assert type(feasts._get_provider().batch_engine) is LocalComputeEngine
    assert type(bulk._get_provider().batch_engine) is BulkComputeEngine
    assert Settings.model_fields["materialization"].default == "bulk"


def _sqlite_rows(settings: Settings) -> dict[str, list[tuple]]:
    with sqlite3.connect(settings.sqlite_online_path) as con:
        tables = [t for (t,) in con.execute("select name from sqlite_master where type = 'table'")]
        return {
            t: con.execute(
                "select entity_key, feature_name, value, value_text, vector_value, event_ts, "
                f'created_ts, typeof(event_ts), typeof(created_ts) from "{t}" '
                "order by entity_key, feature_name"
            ).fetchall()
            for t in tables
        }


def _redis_hashes(settings: Settings) -> dict[bytes, dict[bytes, bytes]]:
    client = redis_client.Redis.from_url(settings.redis_url)
    try:
        return {key: client.hgetall(key) for key in client.scan_iter(count=1000)}
    finally:
        client.close()


def test_online_rows_are_identical(both_ways) -> None:
    kind, ((feast_settings, _), (bulk_settings, _)) = both_ways
    if kind == "sqlite":
        theirs, ours = _sqlite_rows(feast_settings), _sqlite_rows(bulk_settings)
        assert sum(len(rows) for rows in theirs.values()) > 100_000
        assert sorted(ours) == sorted(theirs)
        for table, rows in theirs.items():
            assert ours[table] == rows, table
    else:
        theirs, ours = _redis_hashes(feast_settings), _redis_hashes(bulk_settings)
        assert len(theirs) > 1_000
        assert ours.keys() == theirs.keys()
        for key, fields in theirs.items():
            assert ours[key] == fields, key


def test_registries_record_the_same_intervals(both_ways) -> None:
    _, configured = both_ways

    def intervals(settings: Settings) -> dict[str, list]:
        fs = FeatureStore(config=repo_config(settings))  # read back from the registry
        views = [*fs.list_feature_views(), *fs.list_stream_feature_views()]
        return {v.name: v.materialization_intervals for v in views if v.online}

    theirs, ours = (intervals(settings) for settings, _ in configured)
    assert ours == theirs
    end = store.snapshot_time(configured[0][0]) + timedelta(seconds=1)
    for name, runs in ours.items():  # each of the three steps is recorded
        assert {end - timedelta(days=5), end} <= {stop for _, stop in runs}, name
        assert (end - timedelta(days=10), end) in runs, name


def test_online_reads_are_the_same(both_ways) -> None:
    _, configured = both_ways
    when = store.snapshot_time(configured[0][0]) + timedelta(seconds=1)
    (feast_settings, feasts), (_, bulk) = configured
    service = store.feature_service(feast_settings)
    rows = [
        {"customer_id": c, "offer_id": o, "request_timestamp": when}
        for c in SAMPLE_CUSTOMERS
        for o in OFFERS
    ]
    theirs = feasts.get_online_features(features=service, entity_rows=rows).to_dict()
    ours = bulk.get_online_features(features=service, entity_rows=rows).to_dict()
    assert ours == theirs
    readers = [OnlineFeatureReader(fs) for fs in (feasts, bulk)]
    found = 0
    for customer in SAMPLE_CUSTOMERS:
        expected, actual = (reader.read(customer, OFFERS, when) for reader in readers)
        assert actual.names == expected.names
        assert actual.customer_found == expected.customer_found
        found += actual.customer_found
        np.testing.assert_array_equal(actual.matrix, expected.matrix, err_msg=customer)
    assert found > len(SAMPLE_CUSTOMERS) // 2


@pytest.mark.parametrize(
    "options", [{"key_ttl_seconds": 600}, {"skip_dedup": True}], ids=["ttl", "skip_dedup"]
)
def test_a_write_with_the_stores_options_is_feasts(options, redis, tmp_path) -> None:
    """A time to live (an EXPIRE per entity) and ``skip_dedup`` (older rows written too), which
    the materialized data set does not configure: the same hashes and expiries as Feast's."""
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
    source = FileSource(path=str(tmp_path / "unread.parquet"), timestamp_field="event_timestamp")
    view = FeatureView(
        name="v",
        entities=[customer],
        schema=[
            Field(name="customer_id", dtype=String),
            Field(name="x", dtype=Float64),
            Field(name="n", dtype=Int64),
            Field(name="s", dtype=String),
        ],
        source=source,
    )

    def table(day: int) -> pa.Table:
        return pa.table(
            {
                "customer_id": ["C-1", "C-2", "é☕"],
                "x": [1.5, None, -0.0],
                "n": [3, 0, -7],
                "s": ["a", "", "a"],
                "event_timestamp": pa.array([datetime(2024, 1, day, tzinfo=UTC)] * 3),
            }
        )

    hashes = []
    for db, bulk in ((5, False), (6, True)):
        config = RepoConfig(
            project="bulk",
            provider="local",
            registry=str(tmp_path / "registry.db"),
            online_store={"type": "redis", "connection_string": f"127.0.0.1:{redis.port},db={db}"}
            | options,
            entity_key_serialization_version=3,
        )
        client = redis_client.Redis(port=redis.port, db=db)
        client.flushdb()  # the module's private server: an earlier case wrote here
        online = RedisOnlineStore()
        for day in (2, 1):  # the second write is older: skipped unless skip_dedup
            if bulk:
                redis_writer.write(online, config, view, table(day))
            else:
                rows = _convert_arrow_to_proto(table(day), view, {"customer_id": ValueType.STRING})
                online.online_write_batch(config, view, rows, None)
        hashes.append(
            {key: (client.hgetall(key), client.ttl(key) > 0) for key in client.scan_iter()}
        )
        client.close()
    theirs, ours = hashes
    assert len(theirs) == 3
    assert ours == theirs
    assert all(expires for _, expires in theirs.values()) == ("key_ttl_seconds" in options)
