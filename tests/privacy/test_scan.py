"""The privacy scan (``smartstack privacy scan``): it finds a customer's id and values in every
kind of store, finds nothing where nothing is, and proves ``customer_pii`` stays in raw.

The planted stores are a copy of the session's built home (``built``, tests/conftest.py) with
one marker written in each kind of file: a Parquet mart, a SQLite table, a DuckDB table, a log.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import redis as redis_client
from feast.infra.key_encoding_utils import serialize_entity_key
from typer.testing import CliRunner

from smartstack.cli import app
from smartstack.erasure.scan import Finding, Needle, Needles, scan
from smartstack.featurestore.config import PROJECT
from smartstack.featurestore.rows import entity_key
from smartstack.serving.caps import RedisFrequencyCaps
from smartstack.settings import OnlineStore, Settings
from tests.conftest import BuiltHome, RedisProcess

pytestmark = pytest.mark.slow

# Never in the generated data: chunk 0's ids have 7 digits below the chunk size.
PLANTED_ID = "CUST-7654321"
MARKER = f"privacy-marker-{uuid.uuid4().hex[:12]}"


def customer_ids(settings: Settings) -> list[str]:
    table = ds.dataset(settings.raw_dir / "customer_pii").to_table(columns=["customer_id"])
    return sorted(table.column("customer_id").to_pylist())


@pytest.fixture(scope="module")
def planted(built: BuiltHome, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the built home with ``PLANTED_ID`` and ``MARKER`` in four kinds of store."""
    settings = built.copy(tmp_path_factory.mktemp("scan") / "home")
    row = {"customer_id": [PLANTED_ID], "note": [MARKER], "tags": [[MARKER, "x"]]}
    pq.write_table(pa.table(row), settings.features_dir / "planted_mart.parquet")
    with sqlite3.connect(settings.home / "engagement" / "engagement.sqlite") as con:
        con.execute("create table planted (id integer primary key, who text, payload blob)")
        con.execute(
            "insert into planted (who, payload) values (?, ?)",
            (PLANTED_ID, json.dumps({"m": MARKER}).encode()),
        )
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute("create table main.planted (customer_id varchar, facts struct(m varchar))")
        con.execute("insert into main.planted values (?, {'m': ?})", [PLANTED_ID, MARKER])
    logs = settings.home / "logs"
    logs.mkdir(exist_ok=True)
    (logs / "service.log").write_text(f"INFO ranked customer_id={PLANTED_ID} note={MARKER}\n")
    return settings


@pytest.fixture(scope="module")
def planted_findings(planted: Settings) -> list[Finding]:
    return scan(planted, Needles.for_customer(planted, PLANTED_ID, extra=[MARKER]))


def where(findings: list[Finding], kind: str) -> set[tuple[str, str]]:
    return {(f.store, f.location) for f in findings if f.needle_kind == kind}


def test_each_kind_of_store_is_found_with_its_name(planted_findings: list[Finding]) -> None:
    expected = {
        ("marts", "data/features/planted_mart.parquet:customer_id"),
        ("engagement", "engagement/engagement.sqlite:planted.who"),
        ("warehouse", "main.planted.customer_id"),
        ("logs", "logs/service.log"),
    }
    assert where(planted_findings, "customer_id") == expected
    markers = where(planted_findings, "value")
    assert {
        ("marts", "data/features/planted_mart.parquet:note"),
        ("marts", "data/features/planted_mart.parquet:tags"),  # inside a list column
        ("engagement", "engagement/engagement.sqlite:planted.payload"),  # inside a blob
        ("warehouse", "main.planted.facts"),  # inside a struct
        ("logs", "logs/service.log"),
    } == markers
    assert not [f for f in planted_findings if f.needle_kind == "unscanned"]


def test_deleted_rows_still_in_a_sqlite_file_are_found(tmp_path: Path) -> None:
    """Deleted, not overwritten: what a SQLite build without secure_delete leaves in pages."""
    database = tmp_path / "home" / "engagement" / "deleted.sqlite"
    database.parent.mkdir(parents=True)
    with sqlite3.connect(database) as con:
        con.execute("create table t (who text)")
        con.executemany("insert into t values (?)", [(f"{PLANTED_ID} {'.' * 200}",)] * 20)
    with sqlite3.connect(database) as con:
        con.execute("pragma secure_delete = off")
        con.execute("delete from t where rowid > 0")
    settings = Settings(home=tmp_path / "home")
    findings = scan(settings, Needles(PLANTED_ID, (Needle("customer_id", PLANTED_ID),)))
    assert [(f.store, f.location) for f in findings] == [
        ("engagement", "engagement/deleted.sqlite")
    ]
    assert "no table" in findings[0].detail


def test_a_clean_home_holds_nothing_of_an_unknown_customer(built: BuiltHome) -> None:
    settings = built.settings
    unknown = f"CUST-{random.randint(5_000_000, 9_999_999)}"
    assert unknown not in customer_ids(settings)
    assert scan(settings, Needles.for_customer(settings, unknown, extra=[MARKER])) == []


def test_a_known_customer_is_found_where_the_pipeline_put_them(built: BuiltHome) -> None:
    settings = built.settings
    customer = customer_ids(settings)[7]
    stores = {f.store for f in scan(settings, Needles.for_customer(settings, customer))}
    assert {"raw", "warehouse", "marts", "online_store"} <= stores


def test_an_id_inside_a_longer_id_is_not_a_match(tmp_path: Path) -> None:
    log = tmp_path / "home" / "logs" / "x.log"
    log.parent.mkdir(parents=True)
    log.write_text("CUST-00000123 4111111111111111 x4111111111111111y\n")
    settings = Settings(home=tmp_path / "home")
    needles = Needles(
        "CUST-0000012",
        (Needle("customer_id", "CUST-0000012"), Needle("card_number", "411111111111111")),
    )
    assert scan(settings, needles) == []
    assert len(scan(settings, Needles("x", (Needle("card_number", "4111111111111111"),)))) == 1


def pii_needles(settings: Settings, customers: list[str]) -> Needles:
    items = tuple(n for c in customers for n in Needles.for_customer(settings, c).without_id())
    return Needles("sample", items)


def test_customer_pii_values_never_leave_the_raw_layer(built: BuiltHome) -> None:
    """No mart, warehouse table, feature view, log, cache or model holds a PII value."""
    settings = built.settings
    sample = customer_ids(settings)[::120]  # 10 customers across the data set
    needles = pii_needles(settings, sample)
    assert len(needles) >= 5 * len(sample)  # every identifying column of every one
    assert {n.kind for n in needles} == {
        "full_name",
        "email",
        "phone",
        "card_number",
        "street_address",
    }
    assert scan(settings, needles, exclude_raw_pii=True) == []
    # ... while raw customer_pii itself holds them (the check can see them).
    found = scan(settings, needles)
    assert {f.location.split(":")[0].rsplit("/", 1)[0] for f in found} == {"data/raw/customer_pii"}


def test_a_pii_value_copied_into_a_mart_is_found(planted: Settings) -> None:
    customer = customer_ids(planted)[3]
    needles = Needles.for_customer(planted, customer).without_id()
    email = next(n.value for n in needles if n.kind == "email")
    pq.write_table(
        pa.table({"customer_id": [customer], "contact": [email]}),
        planted.features_dir / "leaky_mart.parquet",
    )
    try:
        found = scan(planted, needles, exclude_raw_pii=True)
    finally:
        (planted.features_dir / "leaky_mart.parquet").unlink()
    assert [(f.store, f.location, f.needle_kind) for f in found] == [
        ("marts", "data/features/leaky_mart.parquet:contact", "email")
    ]


# --- Redis ---------------------------------------------------------------------------------


@pytest.fixture
def redis_settings(redis: RedisProcess, tmp_path: Path) -> Iterator[Settings]:
    """An empty home whose online store is the session's private redis-server."""
    settings = Settings(home=tmp_path / "home", online_store=OnlineStore.redis, redis_url=redis.url)
    yield settings
    client = redis_client.Redis.from_url(redis.url)
    client.flushdb()  # a private server: nobody else's keys
    client.close()


def test_redis_keys_and_values_are_found(redis_settings: Settings) -> None:
    client = redis_client.Redis.from_url(redis_settings.redis_url)
    feast_key = serialize_entity_key(entity_key("customer_id", PLANTED_ID), 3) + PROJECT.encode()
    client.hset(feast_key, mapping={b"_ts:customer_profile": b"\x08\x01"})
    other = serialize_entity_key(entity_key("customer_id", PLANTED_ID + "9"), 3)
    client.hset(other + PROJECT.encode(), mapping={b"_ts:customer_profile": b"\x08\x01"})
    prefix = redis_settings.engagement.redis_prefix
    client.set(f"{prefix}:state:someone", json.dumps({"note": MARKER}))
    client.close()
    RedisFrequencyCaps(redis_settings.redis_url, cap=3, window_seconds=60, timeout_s=1).record(
        PLANTED_ID, ["OFF-1"]
    )

    findings = scan(redis_settings, Needles.for_customer(redis_settings, PLANTED_ID, [MARKER]))
    found = {(f.store, f.needle_kind, f.detail) for f in findings}
    assert found == {
        ("online_store", "customer_id", "in the key"),
        ("frequency_caps", "customer_id", "in the key"),
        ("engagement", "value", "in the value"),
    }
    unknown = Needles.for_customer(redis_settings, "CUST-1234567")
    assert scan(redis_settings, unknown) == []


# --- the command ---------------------------------------------------------------------------


def test_command_exit_codes(built: BuiltHome, planted: Settings) -> None:
    runner = CliRunner()
    clean = runner.invoke(app, ["privacy", "scan", "CUST-8765432"], obj=built.settings)
    assert clean.exit_code == 0, clean.output
    assert "nothing found" in clean.output

    found = runner.invoke(
        app, ["privacy", "scan", PLANTED_ID, "--value", MARKER, "--json"], obj=planted
    )
    assert found.exit_code == 1, found.output
    assert "found in 4 store(s)" in found.output
    assert "warehouse" in found.output and "logs" in found.output

    empty = runner.invoke(app, ["privacy", "scan", " "], obj=built.settings)
    assert empty.exit_code == 2
    assert "empty" in empty.output
