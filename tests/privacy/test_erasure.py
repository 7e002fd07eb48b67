"""Erasure end to end: a customer marked in every store, erased, scanned, and the whole
pipeline run again; the same erasure with a Redis online store; an interrupted erasure resumed;
an unknown id."""

from __future__ import annotations

import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from smartstack.erasure.scan import Needles, scan
from smartstack.events.contracts import ConsentEvent, FeedbackEvent, QuizAnswerEvent
from smartstack.events.interactions import Interactions
from smartstack.events.recent_spend import BatchChanges, RecentSpendState
from smartstack.featurestore import store
from smartstack.privacy.audit import AuditLog
from smartstack.privacy.suppression import SuppressionList
from smartstack.serving.app import RankingApp
from smartstack.serving.schemas import RankRequest
from smartstack.settings import OnlineStore, Settings
from tests.conftest import (
    BUILT_CUSTOMERS,
    BUILT_SEED,
    SMARTSTACK,
    RedisProcess,
    project_environment,
)

pytestmark = pytest.mark.slow

PII_COLUMNS = ("full_name", "email", "phone", "card_number", "street_address")
# Where the pipeline, the service and the stream keep a customer (the scan's store names).
EVERY_STORE = {
    "raw", "warehouse", "marts", "online_store", "ranking_log", "feedback",
    "quiz_answers", "consent_events", "engagement", "logs", "stream_state",
}  # fmt: skip


def _run(settings_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SMARTSTACK, *args],
        env=project_environment(**settings_env),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _mark_pii(settings: Settings, customer: str, marker: str) -> dict[str, str]:
    """Put the marker in the customer's name; returns their PII values (marker included)."""
    folder = settings.raw_dir / "customer_pii"
    for part in sorted(folder.glob("*.parquet")):
        table = pq.read_table(part)
        mine = pc.equal(table["customer_id"], customer)
        if not pc.any(mine).as_py():
            continue
        names = pc.if_else(mine, pa.scalar(f"Ada {marker}"), table["full_name"])
        table = table.set_column(table.schema.get_field_index("full_name"), "full_name", names)
        pq.write_table(table, part)
        (row,) = table.filter(mine).to_pylist()
        return {c: str(row[c]) for c in PII_COLUMNS}
    raise AssertionError(f"{customer} has no PII row")


def _plant(settings: Settings, customer: str, marker: str) -> None:
    """The customer's activity in every store the service and the stream write, through their
    own code: feedback, a quiz answer and a consent change (tables, online store, engagement,
    audit), a ranking (ranking log, explanation lookups), the stream's spend window, and a
    service log line."""
    snapshot = _snapshot(settings)
    at = snapshot - timedelta(hours=2)
    interactions = Interactions.from_settings(settings, store.get_store(settings))
    try:
        interactions.land(
            [
                FeedbackEvent(
                    event_id=uuid.uuid4().hex,
                    kind="click",
                    customer_id=customer,
                    offer_id=_an_offer(settings),
                    occurred_at=at,
                    request_id=marker[:60],
                    channel="app",
                    position=1,
                )  # fmt: skip
            ],
            [
                QuizAnswerEvent(
                    event_id=uuid.uuid4().hex,
                    customer_id=customer,
                    answered_at=at,
                    favourite_category="travel",
                    reward_preference="rewards",
                    planning_travel=True,
                    timezone="Europe/Paris",
                )  # fmt: skip
            ],
            [
                ConsentEvent(
                    event_id=uuid.uuid4().hex,
                    customer_id=customer,
                    changed_at=at,
                    personalization=True,
                    llm_messaging=False,
                    analytics=True,
                    source="app",
                )  # fmt: skip
            ],
        )
    finally:
        interactions.close()
    app = RankingApp(settings)
    try:
        app.rank(
            RankRequest.model_validate(
                {"customer_id": customer, "context": {"channel": "app", "timestamp": at}},
                strict=False,
            )
        )
    finally:
        app.close()
    state = RecentSpendState(settings.home / "events" / "stream_state.sqlite")
    from smartstack.events.contracts import TransactionEvent

    changes = BatchChanges()
    state.apply(
        [
            TransactionEvent(
                transaction_id=987654321,
                customer_id=customer,
                event_timestamp=at,
                merchant_name="Cafe",
                merchant_category="coffee_shops",
                amount=4.5,
                currency="USD",
                channel="in_store",
            )  # fmt: skip
        ],
        changes,
    )
    state.commit(changes, {})
    state.close()
    logs = settings.home / "logs"
    logs.mkdir(exist_ok=True)
    with (logs / "bentoml.log").open("a") as log:
        log.write(f"INFO ranked offers for customer_id={customer} (Ada {marker})\n")


def _snapshot(settings: Settings):  # noqa: ANN202 - a datetime
    table = pq.read_table(settings.raw_dir / "transactions", columns=["event_timestamp"])
    return pc.max(table["event_timestamp"]).as_py()


def _an_offer(settings: Settings) -> str:
    return pq.read_table(settings.raw_dir / "offers", columns=["offer_id"])["offer_id"][0].as_py()


def _first_customer(settings: Settings) -> str:
    table = pq.read_table(settings.raw_dir / "customers", columns=["customer_id"])
    return sorted(table["customer_id"].to_pylist())[3]


def _stores(findings: list) -> set[str]:  # noqa: ANN001 - scan findings
    return {f.store for f in findings}


def _marked_and_erased(settings: Settings, env: dict[str, str]) -> Needles:
    """A customer of ``settings``'s home marked in every store, erased through the CLI and found
    nowhere after; their needles."""
    customer = _first_customer(settings)
    marker = f"zq{uuid.uuid4().hex[:10]}"
    pii = _mark_pii(settings, customer, marker)
    _plant(settings, customer, marker)

    needles = Needles.for_customer(settings, customer, [marker, *pii.values()])
    planted = _stores(scan(settings, needles))
    assert EVERY_STORE <= planted, planted

    erased = _run(env, "privacy", "erase", customer)
    assert erased.returncode == 0, erased.stdout + erased.stderr
    assert scan(settings, needles) == []
    assert customer in SuppressionList.from_settings(settings)
    return needles


def test_a_marked_customer_is_found_nowhere_after_erasure_and_a_full_rerun(
    tmp_path: Path,
    built,  # noqa: ANN001
) -> None:
    settings = built.copy(tmp_path / "home")
    env = {"SMARTSTACK_HOME": str(settings.home)}
    needles = _marked_and_erased(settings, env)

    # The same run again generates the same customers: the suppression list keeps one out.
    again = _run(env, "run", "--customers", str(BUILT_CUSTOMERS), "--seed", str(BUILT_SEED))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert scan(settings, needles) == []
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as db:
        (customers,) = db.execute("select count(*) from stg_smartstack__customers").fetchone()
    assert customers == BUILT_CUSTOMERS - 1

    actions = [r["action"] for r in AuditLog.from_settings(settings).records()]
    assert actions.count("erasure_requested") == 1 and actions.count("erasure_completed") == 1
    assert AuditLog.from_settings(settings).verify() == []


def test_a_marked_customer_is_erased_from_a_redis_online_store(
    tmp_path: Path,
    built,  # noqa: ANN001
    redis: RedisProcess,
) -> None:
    """What a rerun brings back does not depend on the online store (the suppression list
    acts before it); what an erasure removes does."""
    copied = built.copy(tmp_path / "home")
    settings = copied.model_copy(update={"online_store": OnlineStore.redis, "redis_url": redis.url})
    # A registry of its own (the copy's records the SQLite store's loads, not this store's),
    # and no SQLite store left behind: this home's online store is Redis alone.
    for sqlite_store in ("registry.db", "online.db"):
        (settings.home / "feast" / sqlite_store).unlink()
    store.apply(settings)
    store.materialize(settings)
    env = {
        "SMARTSTACK_HOME": str(settings.home),
        "SMARTSTACK_ONLINE_STORE": "redis",
        "REDIS_URL": redis.url,
    }
    _marked_and_erased(settings, env)


def test_an_unknown_id_is_refused_and_nothing_is_touched(tmp_path: Path, built) -> None:  # noqa: ANN001
    settings = built.copy(tmp_path / "home")
    before = {p: p.stat().st_mtime_ns for p in settings.raw_dir.rglob("*.parquet")}
    audited = list(AuditLog.from_settings(settings).records())
    done = _run({"SMARTSTACK_HOME": str(settings.home)}, "privacy", "erase", "no-such-customer")
    assert done.returncode == 2
    assert "unknown to every store" in done.stdout + done.stderr
    assert {p: p.stat().st_mtime_ns for p in settings.raw_dir.rglob("*.parquet")} == before
    assert list(AuditLog.from_settings(settings).records()) == audited


def test_an_interrupted_erasure_resumes_and_the_audit_log_says_what_was_done(
    tmp_path: Path,
    built,  # noqa: ANN001
) -> None:
    settings = built.copy(tmp_path / "home")
    env = {"SMARTSTACK_HOME": str(settings.home)}
    customer = _first_customer(settings)
    # Another process holds the warehouse (as a pipeline's dbt run would): the erasure stops
    # there, after the stores before it.
    holder = subprocess.Popen(
        [
            str(Path(SMARTSTACK).with_name("python")),
            "-c",
            "import duckdb, sys, time; db = duckdb.connect(sys.argv[1]); "
            "print('held', flush=True); time.sleep(600)",
            str(settings.duckdb_path),
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        stopped = _run(env, "privacy", "erase", customer)
    finally:
        holder.kill()
        holder.wait()
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "stopped at warehouse" in stopped.stdout + stopped.stderr
    assert customer not in stopped.stdout + stopped.stderr  # task logs keep what it prints
    assert customer in SuppressionList.from_settings(settings)  # suppressed from the start

    resumed = _run(env, "privacy", "erase", customer)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed" in resumed.stdout + resumed.stderr
    assert customer not in resumed.stdout + resumed.stderr

    records = [
        r for r in AuditLog.from_settings(settings).records() if r["action"].startswith("erasure")
    ]
    assert [r["action"] for r in records] == [
        "erasure_requested", "erasure_interrupted", "erasure_completed",
    ]  # fmt: skip
    interrupted, completed = records[1]["details"], records[2]["details"]
    assert interrupted["failed"] == "warehouse" and "raw" in interrupted["done"]
    assert completed["resumed_after"] == interrupted["done"]
    assert set(completed["removed"]) == {"warehouse", "kafka"}
    assert customer not in "".join(map(str, records))
    assert scan(settings, Needles.for_customer(settings, customer)) == []

    again = _run(env, "privacy", "erase", customer)
    assert again.returncode == 0 and "already erased" in again.stdout + again.stderr
