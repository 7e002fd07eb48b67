"""Feast over the dbt marts: point-in-time training rows, online = offline, on SQLite and on Redis.

Each configuration is a real one: the local profile (file registry, SQLite online store) and
the production shape (SQL registry on PostgreSQL, Redis online store; the offline store stays
DuckDB because BigQuery cannot run here).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import sqlite3
import time
import uuid
from datetime import UTC, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import redis
from feast import FeatureStore, FeatureView, Field, FileSource, PushSource, StreamFeatureView
from feast.data_source import PushMode
from feast.types import Int32
from redis.backoff import NoBackoff
from redis.retry import Retry

from smartstack.data.schema import MERCHANT_CATEGORIES
from smartstack.events.online_quiz import FAVOURITE, OnlineQuizWriter, QuizRow
from smartstack.featurestore import store
from smartstack.featurestore.catalogue import QuizAnswers
from smartstack.featurestore.historical import own_duckdb
from smartstack.featurestore.online import OnlineFeatureReader
from smartstack.featurestore.rows import (
    ReadTimeout,
    RedisRows,
    ViewRead,
    entity_key,
    entity_rows,
    python_value,
)
from smartstack.ranking.smartscore import WEIGHTS, smartscore
from smartstack.settings import OnlineStore
from tests.featurestore.conftest import build_store, fresh_postgres_database

SAMPLE_CUSTOMERS = [f"CUST-{i:07d}" for i in range(0, 600, 37)]
OFFERS = ["OFR-001", "OFR-012", "OFR-023", "OFR-031", "OFR-052", "OFR-063", "OFR-901", "OFR-904"]


@pytest.fixture(scope="module", params=["local-sqlite", "prod-redis-postgres"])
def configured(request, feature_data: Path, use_settings, tmp_path_factory):
    """Settings, applied and materialized, for each online-store configuration (Redis: a
    private redis-server, so nothing else's keys are touched)."""
    home = tmp_path_factory.mktemp(f"fs-{request.param}")
    env = {"SMARTSTACK_HOME": str(home), "SMARTSTACK_DATA_DIR": str(feature_data)}
    if request.param == "prod-redis-postgres":
        redis = request.getfixturevalue("redis")
        env |= {
            "SMARTSTACK_PROFILE": "prod",
            "SMARTSTACK_WAREHOUSE": "duckdb",
            "REDIS_URL": redis.url,
            "SMARTSTACK_POSTGRES_URL": fresh_postgres_database(f"feast_{uuid.uuid4().hex[:8]}"),
        }
    settings = use_settings(**env)
    build_store(settings)
    return settings


def _offline_at(settings, customers: list[str], offers: list[str], when: pd.Timestamp):
    rows = pd.DataFrame(
        [(c, o) for c in customers for o in offers], columns=["customer_id", "offer_id"]
    )
    rows["event_timestamp"] = when
    rows["request_timestamp"] = when
    return store.training_frame(rows, settings)


def test_online_values_equal_offline_values_at_the_same_time(configured) -> None:
    settings = configured
    snapshot = pd.Timestamp(store.snapshot_time(settings)) + pd.Timedelta(seconds=1)
    offline = _offline_at(settings, SAMPLE_CUSTOMERS, OFFERS, snapshot)
    reader = OnlineFeatureReader(store.get_store(settings))
    names = reader.names
    for customer in SAMPLE_CUSTOMERS:
        online = reader.read(customer, OFFERS, snapshot.to_pydatetime())
        assert online.customer_found, customer
        expected = offline[offline.customer_id == customer].set_index("offer_id").loc[OFFERS, names]
        np.testing.assert_allclose(
            online.matrix,
            expected.to_numpy(dtype=float),
            rtol=1e-6,
            equal_nan=True,
            err_msg=customer,
        )


def test_fast_reader_matches_feasts_own_online_read(configured) -> None:
    fs = store.get_store(configured)
    when = store.snapshot_time(configured)
    reader = OnlineFeatureReader(fs)
    for customer in SAMPLE_CUSTOMERS[:5]:
        ours = reader.read(customer, OFFERS, when)
        theirs = fs.get_online_features(
            features=store.feature_service(configured),
            entity_rows=[
                {"customer_id": customer, "offer_id": o, "request_timestamp": when} for o in OFFERS
            ],
        ).to_dict()
        expected = np.array(
            [
                [np.nan if theirs[n][i] is None else theirs[n][i] for n in ours.names]
                for i in range(len(OFFERS))
            ],
            dtype=float,
        )
        np.testing.assert_allclose(ours.matrix, expected, rtol=1e-6, equal_nan=True)


def test_unknown_customer_is_reported_not_invented(configured) -> None:
    reader = OnlineFeatureReader(store.get_store(configured))
    result = reader.read("CUST-9999999", OFFERS, store.snapshot_time(configured))
    assert not result.customer_found
    spend = result.names.index("spend_dining_30d")
    assert np.isnan(result.matrix[:, spend]).all()
    # Offer features are still there: the fallback tiers rank on them.
    rate = result.names.index("redemption_rate_smoothed")
    assert not np.isnan(result.matrix[:, rate]).any()


def test_pushed_spend_reaches_the_online_store_without_a_batch_run(configured) -> None:
    fs = store.get_store(configured)
    when = pd.Timestamp(store.snapshot_time(configured)) + pd.Timedelta(minutes=5)
    customer = SAMPLE_CUSTOMERS[1]
    reader = OnlineFeatureReader(fs)
    travel = reader.names.index("recent_spend_travel")
    before = reader.read(customer, ["OFR-021"], when.to_pydatetime()).matrix[0, travel]
    pushed = {f"recent_spend_{c}": [0.0] for c in MERCHANT_CATEGORIES}
    pushed |= {
        "customer_id": [customer],
        "event_timestamp": [when],
        "recent_spend_travel": [4321.5],
    }
    fs.push("customer_recent_spend_push", pd.DataFrame(pushed), to=PushMode.ONLINE)
    after = reader.read(customer, ["OFR-021"], when.to_pydatetime())
    assert before != 4321.5
    assert after.matrix[0, travel] == 4321.5
    assert after.matrix[0, reader.names.index("offer_category_recent_spend")] == 4321.5


def test_a_live_quiz_answer_moves_the_next_ranking(configured) -> None:
    """A quiz answer written as the stream processor writes it is read by the next request: the
    offers of the stated category match it (and SmartScore adds its bonus), whatever the
    profile's snapshot of an older answer says; a customer the store knows only by that answer
    stays a cold start, which ranks by it."""
    fs = store.get_store(configured)
    when = store.snapshot_time(configured) + timedelta(minutes=5)
    reader = OnlineFeatureReader(fs)
    match = reader.names.index("quiz_matches_category")
    customer = "CUST-0000001"  # not among SAMPLE_CUSTOMERS, which other tests compare
    before = reader.read(customer, OFFERS, when)
    categories = [o["merchant_category"] for o in before.offers]
    profile = before.customer["quiz_favourite_category"]
    stated = next(c for c in categories if c and c not in (profile, before.customer[FAVOURITE]))

    writer = OnlineQuizWriter(fs)
    older = QuizRow(customer, when - timedelta(minutes=1), profile or "gas", False, False)
    assert writer.write([QuizRow(customer, when, stated, True, True), older]) == 1
    after = reader.read(customer, OFFERS, when)

    assert after.customer[FAVOURITE] == stated
    assert after.customer["quiz_favourite_category"] == profile  # the batch snapshot is unchanged
    assert after.customer_as_of == before.customer_as_of  # pushed rows are no new snapshot
    assert after.matrix[:, match].tolist() == [float(c == stated) for c in categories]
    bonus = smartscore(after.matrix, reader.names) - smartscore(before.matrix, reader.names)
    expected = WEIGHTS["stated"] * (after.matrix[:, match] - before.matrix[:, match])
    np.testing.assert_allclose(bonus, expected, atol=1e-12)

    newcomer = "CUST-9999998"
    assert writer.write([QuizRow(newcomer, when, stated, False, False)]) == 1
    assert not reader.read(newcomer, OFFERS, when).customer_found
    quiz = QuizAnswers(fs, "customer_quiz", timeout_s=1.0)
    try:
        assert quiz.favourite(newcomer) == stated
    finally:
        quiz.close()


def test_model_features_are_the_feature_service(configured) -> None:
    names = store.model_feature_names(configured)
    assert len(names) == len(set(names)) > 100
    assert {
        "share_coffee_shops_30d",
        "trend_travel",
        "offer_category_share_30d",
        "recent_spend_travel",
        "redemption_rate_smoothed",
    } <= set(names)
    # Strings and direct identifiers never reach the model.
    assert not {
        "card_product",
        "age_band",
        "region",
        "merchant_category",
        "offer_type",
        "customer_id",
    } & set(names)


def test_training_rows_never_see_feature_values_from_after_their_event_time(
    configured, use_settings, tmp_path: Path
) -> None:
    """Write a feature value one hour after an impression: the impression must not see it."""
    original = configured.data_dir
    impressions = pd.read_parquet(original / "features" / "training_impressions.parquet")
    target = impressions.sort_values("event_timestamp").iloc[len(impressions) // 2]
    shown_at = pd.Timestamp(target.event_timestamp).tz_localize("UTC")

    planted = tmp_path / "data"
    shutil.copytree(original, planted)
    spend_path = planted / "features" / "customer_spend_features.parquet"
    spend = pd.read_parquet(spend_path)
    future = spend[spend.customer_id == target.customer_id].iloc[[0]].copy()
    future["event_timestamp"] = (shown_at + timedelta(hours=1)).tz_convert(None)
    future["spend_dining_30d"] = 987654.0
    pd.concat([spend, future]).to_parquet(spend_path, index=False)

    rows = pd.DataFrame(
        {
            "customer_id": [target.customer_id] * 2,
            "offer_id": [target.offer_id] * 2,
            "event_timestamp": [shown_at, shown_at + timedelta(hours=2)],
        }
    )
    rows["request_timestamp"] = rows["event_timestamp"]
    try:
        settings = use_settings(SMARTSTACK_DATA_DIR=str(planted))
        store.apply(settings)
        joined = store.training_frame(rows, settings).sort_values("event_timestamp")
    finally:
        store.apply(use_settings(SMARTSTACK_DATA_DIR=str(original)))
    assert joined.spend_dining_30d.iloc[0] != 987654.0  # at the impression: the past only
    assert joined.spend_dining_30d.iloc[1] == 987654.0  # two hours later: the new value


def test_training_set_matches_an_as_of_join_on_the_marts(configured) -> None:
    """Every training row carries the latest snapshot at or before its event time."""
    settings = configured
    features = settings.data_dir / "features"
    frame = store.training_set(settings)
    assert len(frame) == len(pd.read_parquet(features / "training_impressions.parquet"))
    expected = (
        duckdb.execute(f"""
        select i.impression_id, s.spend_coffee_shops_30d, s.trend_travel, s.event_timestamp as as_of
        from read_parquet('{features}/training_impressions.parquet') i
        asof left join read_parquet('{features}/customer_spend_features.parquet') s
          on i.customer_id = s.customer_id and i.event_timestamp >= s.event_timestamp
    """)
        .df()
        .set_index("impression_id")
    )
    got = frame.set_index("impression_id").loc[expected.index]
    assert (expected.as_of.notna()).all()
    np.testing.assert_allclose(got.spend_coffee_shops_30d, expected.spend_coffee_shops_30d)
    np.testing.assert_allclose(got.trend_travel, expected.trend_travel, equal_nan=True)


def test_training_frame_equals_feasts_own_retrieval_of_the_service(configured) -> None:
    """The column-wise on-demand path gives Feast's ``to_df`` of the feature service: the same
    columns and the same value in every cell, the on-demand features included."""
    settings = configured
    rows = store.labelled_impressions(settings)
    rows = rows[rows.customer_id.isin(SAMPLE_CUSTOMERS)].reset_index(drop=True)
    ours = store.training_frame(rows, settings)
    feasts = (
        store.get_store(settings)
        .get_historical_features(entity_df=rows, features=store.feature_service(settings))
        .to_df()
    )
    assert len(rows) > 100
    assert set(ours.columns) == set(feasts.columns)
    assert set(store.model_feature_names(settings)) <= set(ours.columns)

    def by_impression(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values("impression_id", ignore_index=True)[sorted(feasts.columns)]

    pd.testing.assert_frame_equal(by_impression(ours), by_impression(feasts))


def test_a_retrieval_on_a_duckdb_of_its_own_is_the_same_and_leaves_ibis_as_it_was(
    configured, tmp_path
) -> None:
    """Inside ``own_duckdb`` Feast's joins run on a connection under the given memory limit,
    closed on the way out, with ibis's default backend put back; the frame is the same."""
    import ibis

    settings = configured
    rows = store.labelled_impressions(settings)
    rows = rows.loc[
        rows.customer_id.isin(SAMPLE_CUSTOMERS), ["impression_id", *store.ENTITY_COLUMNS]
    ]
    expected = store.training_frame(rows, settings)
    before = ibis.options.default_backend
    spill = tmp_path / "spill" / "duckdb"
    with own_duckdb("200MB", spill):
        backend = ibis.get_backend()
        assert backend is not before
        limit = "select current_setting('memory_limit')"
        wanted = duckdb.connect(config={"memory_limit": "200MB"}).execute(limit).fetchall()
        assert backend.con.execute(limit).fetchall() == wanted
        frame = store.training_frame(rows, settings)
    assert ibis.options.default_backend is before
    assert spill.is_dir()
    with pytest.raises(duckdb.Error):
        backend.con.execute("select 1")
    # Feast's join gives the rows in no fixed order.
    pd.testing.assert_frame_equal(
        frame.sort_values("impression_id", ignore_index=True),
        expected.sort_values("impression_id", ignore_index=True),
    )


def _views_by_entity(fs: FeatureStore, join_key: str) -> list[ViewRead]:
    return [
        ViewRead(v, join_key, [f.name for f in v.features], isinstance(v, StreamFeatureView))
        for v in fs.list_all_feature_views()
        if v.entity_columns[0].name == join_key
    ]


@pytest.mark.parametrize(
    ("join_key", "ids"),
    [("customer_id", [*SAMPLE_CUSTOMERS[:4], "CUST-9999999"]), ("offer_id", OFFERS)],
)
def test_one_round_trip_rows_equal_feasts_online_read(configured, join_key, ids) -> None:
    fs = store.get_store(configured)
    feast_store = fs._get_provider().online_store
    views = _views_by_entity(fs, join_key)
    assert any(v.streamed for v in views) == (join_key == "customer_id")
    rows = entity_rows(fs.config, views, timeout_s=1.0)
    try:
        ours = rows.read(ids)
    finally:
        rows.close()
    assert len(ours) == len(ids)
    for entity, (values, as_of) in zip(ids, ours, strict=True):
        expected: dict[str, object] = {}
        newest = None
        for view in views:
            ((stamp, theirs),) = feast_store.online_read(
                fs.config, view.view, [entity_key(join_key, entity)]
            )
            found = {f: python_value(theirs[f]) if theirs else None for f in view.features}
            expected |= found
            if not view.streamed and any(v is not None for v in found.values()):
                stamp = stamp.astimezone(UTC).replace(tzinfo=None)
                newest = stamp if newest is None else max(newest, stamp)
        assert values == expected, entity
        assert as_of == newest, entity
    unknown = [r for e, r in zip(ids, ours, strict=True) if e == "CUST-9999999"]
    for values, as_of in unknown:
        assert as_of is None and all(v is None for v in values.values())


def test_a_store_that_does_not_answer_costs_one_deadline(configured, tmp_path) -> None:
    """SQLite: a writer holds the lock; Redis: a peer accepts the connection and never replies."""
    fs = store.get_store(configured)
    views = _views_by_entity(fs, "customer_id")
    with contextlib.ExitStack() as stack:
        if configured.online_store is OnlineStore.sqlite:
            writer = sqlite3.connect(configured.sqlite_online_path, isolation_level=None)
            writer.execute("begin exclusive")
            stack.callback(writer.close)
            stack.callback(writer.execute, "rollback")
            rows = entity_rows(fs.config, views, timeout_s=0.2)
        else:
            silent = socket.create_server(("127.0.0.1", 0))
            stack.callback(silent.close)
            client = redis.Redis(
                port=silent.getsockname()[1], socket_timeout=0.2, retry=Retry(NoBackoff(), 0)
            )
            rows = RedisRows(client, fs.config, views)
        stack.callback(rows.close)
        started = time.monotonic()
        with pytest.raises(ReadTimeout):
            rows.read([SAMPLE_CUSTOMERS[0]])
        assert 0.15 < time.monotonic() - started < 1.5


CONSENT_COLUMNS = ["consent_personalization", "consent_llm_messaging", "consent_analytics"]


def _consent_view(fs: FeatureStore, tmp_path: Path) -> str:
    """The registry's ``customer_consent`` view; where the registry has none yet, one of the
    same shape (push source, three Int32 fields, in no feature service) applied here."""
    if "customer_consent" in {v.name for v in fs.list_all_feature_views()}:
        return "customer_consent"
    batch = tmp_path / "consent.parquet"
    pd.DataFrame(
        {
            "customer_id": pd.Series([], dtype=str),
            "event_timestamp": pd.Series([], dtype="datetime64[us, UTC]"),
            **{c: pd.Series([], dtype="int32") for c in CONSENT_COLUMNS},
        }
    ).to_parquet(batch)
    push = PushSource(
        name="customer_consent_push",
        batch_source=FileSource(
            name="customer_consent_source", path=str(batch), timestamp_field="event_timestamp"
        ),
    )
    view = FeatureView(
        name="customer_consent",
        entities=[fs.get_entity("customer")],
        ttl=timedelta(0),
        schema=[Field(name=c, dtype=Int32) for c in CONSENT_COLUMNS],
        source=push,
        online=True,
    )
    fs.apply([push, view])
    return "customer_consent"


def test_extra_customer_views_are_read_in_the_same_round_trip(configured, tmp_path) -> None:
    """A customer-keyed view outside the service (consent) comes with the customer's row: its
    values equal Feast's own read, the matrix and who is known do not change, and a name the
    registry does not have is skipped."""
    fs = store.get_store(configured)
    name = _consent_view(fs, tmp_path)
    when = store.snapshot_time(configured)
    known, refusing, newcomer = SAMPLE_CUSTOMERS[2], SAMPLE_CUSTOMERS[3], "CUST-9999997"
    fs.write_to_online_store(
        name,
        pd.DataFrame(
            {
                "customer_id": [refusing, newcomer],
                "event_timestamp": [pd.Timestamp(when)] * 2,
                "consent_personalization": np.array([0, 1], dtype="int32"),
                "consent_llm_messaging": np.array([0, 0], dtype="int32"),
                "consent_analytics": np.array([1, 0], dtype="int32"),
            }
        ),
    )
    plain = OnlineFeatureReader(fs)
    reader = OnlineFeatureReader(fs, extra_customer_views=[name, "no_such_view"])
    try:
        assert reader.extra_views == [name] and reader.names == plain.names
        for customer in (known, refusing, newcomer):
            ours = reader.read(customer, OFFERS, when)
            before = plain.read(customer, OFFERS, when)
            theirs = fs.get_online_features(
                features=[f"{name}:{c}" for c in CONSENT_COLUMNS],
                entity_rows=[{"customer_id": customer}],
            ).to_dict()
            assert {c: ours.customer[c] for c in CONSENT_COLUMNS} == {
                c: theirs[c][0] for c in CONSENT_COLUMNS
            }, customer
            assert ours.customer_found == before.customer_found == (customer != newcomer)
            assert ours.customer_as_of == before.customer_as_of  # pushed: no new snapshot
            np.testing.assert_array_equal(ours.matrix, before.matrix)
            assert reader.knows(customer) == plain.knows(customer) == (customer != newcomer)
        refused = reader.read(refusing, OFFERS, when).customer
        assert [refused[c] for c in CONSENT_COLUMNS] == [0, 0, 1]
        assert reader.customer_values(newcomer) == (
            False,
            reader.read(newcomer, OFFERS, when).customer,
        )
    finally:
        reader.close()
        plain.close()
