"""The bulk engine (smartstack.featurestore.bulk) writes exactly what Feast's own engine writes.

The session's data set is materialized twice, once with Feast's ``local`` engine and once with
the bulk engine, into two SQLite files, then into two databases of a private redis-server; a
first load and an incremental one. Every online row must be the same bytes (entity key, feature,
value proto, text, event and created time on SQLite; every hash field on Redis), the registries
must record the same materialization intervals, and the serving reader must read the same.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import redis as redis_client
from feast import FeatureStore
from feast.infra.online_stores.helpers import extract_text_and_num
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

from smartstack.featurestore import store
from smartstack.featurestore.bulk import BulkComputeEngine, _texts, column_values
from smartstack.featurestore.config import MATERIALIZATION_ENGINE, repo_config
from smartstack.featurestore.online import OnlineFeatureReader
from smartstack.settings import Settings

SAMPLE_CUSTOMERS = [f"CUST-{i:07d}" for i in range(0, 1200, 53)]
OFFERS = ["OFR-001", "OFR-012", "OFR-023", "OFR-031", "OFR-052", "OFR-063"]


@pytest.mark.parametrize(
    ("column", "value_type"),
    [
        (pa.array([1.5, None, float("nan"), -0.0, 0.0, 1e300], pa.float64()), ValueType.DOUBLE),
        (pa.array([1, 2, 0, -5], pa.int64()), ValueType.DOUBLE),
        (pa.array([1.25, None, 0.1], pa.float32()), ValueType.FLOAT),
        (pa.array([1.25, None, 0.1], pa.float64()), ValueType.FLOAT),
        (pa.array([1, None, -3], pa.int64()), ValueType.INT64),
        (pa.array([1, 2, 3], pa.int64()), ValueType.INT32),
        (pa.array([1, None, 3], pa.int32()), ValueType.INT32),
        (pa.array([2.0, None, 3.7], pa.float64()), ValueType.INT64),
        (pa.array(["a", None, ""], pa.string()), ValueType.STRING),
        (pa.array([None, None], pa.string()), ValueType.STRING),
        (pa.array([None, None], pa.float64()), ValueType.DOUBLE),
        (
            pa.array([datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), None], pa.timestamp("us", "UTC")),
            ValueType.UNIX_TIMESTAMP,
        ),
    ],
)
def test_a_column_converts_to_feasts_protos_and_texts(column, value_type) -> None:
    """Nulls, NaN, negative zero, integers in float columns and back, and a type left to
    Feast's own converter: the same proto bytes, and the same SQLite text."""
    theirs = python_values_to_proto_values(column.to_numpy(zero_copy_only=False), value_type)
    ours = column_values(column, value_type)
    assert [v.SerializeToString() for v in ours] == [v.SerializeToString() for v in theirs]
    assert _texts(column, value_type, ours) == [extract_text_and_num(v, False)[0] for v in theirs]


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def both_ways(request, feature_data: Path, use_settings, tmp_path_factory):
    """(Feast's engine, bulk engine): settings and store of each, both materialized twice."""
    configured: list[tuple[Settings, FeatureStore]] = []
    for db, engine in ((1, "local"), (2, MATERIALIZATION_ENGINE)):
        home = tmp_path_factory.mktemp(f"bulk-{request.param}-{db}")
        env = {
            "SMARTSTACK_HOME": str(home),
            "SMARTSTACK_DATA_DIR": str(feature_data),
            "SMARTSTACK_ONLINE_STORE": request.param,
        }
        if request.param == "redis":
            server = request.getfixturevalue("redis")  # private: its databases are ours
            env["REDIS_URL"] = f"redis://127.0.0.1:{server.port}/{db}"
        settings = use_settings(**env)
        store.apply(settings)
        fs = FeatureStore(config=repo_config(settings, engine))
        configured.append((settings, fs))
    for settings, fs in configured:
        end = store.materialize(settings, store=fs)  # first load of every view
        store.materialize(settings, end + timedelta(days=2), store=fs)  # incremental
    return request.param, configured


def test_the_bulk_engine_is_the_one_that_materializes(both_ways) -> None:
    _, ((_, feasts), (settings, bulk)) = both_ways
    assert type(feasts._get_provider().batch_engine).__name__ == "LocalComputeEngine"
    assert isinstance(bulk._get_provider().batch_engine, BulkComputeEngine)
    assert isinstance(store.get_store(settings)._get_provider().batch_engine, BulkComputeEngine)


def _sqlite_rows(settings: Settings) -> dict[str, list[tuple]]:
    with sqlite3.connect(settings.sqlite_online_path) as con:
        tables = [t for (t,) in con.execute("select name from sqlite_master where type = 'table'")]
        return {
            t: con.execute(
                f'select entity_key, feature_name, value, value_text, event_ts, created_ts from "{t}" '
                "order by entity_key, feature_name"
            ).fetchall()
            for t in tables
        }


def _redis_rows(settings: Settings) -> dict[bytes, dict[bytes, bytes]]:
    client = redis_client.Redis.from_url(settings.redis_url)
    try:
        return {key: client.hgetall(key) for key in client.scan_iter(count=1000)}
    finally:
        client.close()


def test_online_rows_are_identical(both_ways) -> None:
    kind, ((feast_settings, _), (bulk_settings, _)) = both_ways
    if kind == "sqlite":
        theirs, ours = _sqlite_rows(feast_settings), _sqlite_rows(bulk_settings)
        assert sum(len(rows) for rows in theirs.values()) > 10_000
        assert sorted(ours) == sorted(theirs)
        for table, rows in theirs.items():
            assert ours[table] == rows, table
    else:
        theirs, ours = _redis_rows(feast_settings), _redis_rows(bulk_settings)
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
    for name, runs in ours.items():  # a first load, then an incremental one two days on
        ends = sorted({end for _, end in runs})
        assert len(ends) == 2 and ends[1] - ends[0] == timedelta(days=2), (name, runs)


def test_serving_reads_the_same_features(both_ways) -> None:
    _, configured = both_ways
    when = store.snapshot_time(configured[0][0]) + timedelta(seconds=1)
    theirs, ours = (OnlineFeatureReader(fs) for _, fs in configured)
    found = 0
    for customer in SAMPLE_CUSTOMERS:
        expected = theirs.read(customer, OFFERS, when)
        actual = ours.read(customer, OFFERS, when)
        assert actual.names == expected.names
        assert actual.customer_found == expected.customer_found
        found += actual.customer_found
        np.testing.assert_array_equal(actual.matrix, expected.matrix, err_msg=customer)
    assert found > len(SAMPLE_CUSTOMERS) // 2
