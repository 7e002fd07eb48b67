"""Each store the platform writes, and how one customer is removed from it.

An eraser is idempotent: erasing a customer who is no longer there removes nothing and
succeeds, which is what lets an interrupted erasure simply run again. Each returns how many
rows, entries or keys it removed.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from smartstack.data.schema import RAW_SCHEMAS
from smartstack.engagement.rules import load_rules
from smartstack.engagement.store import open_store
from smartstack.erasure.scan import Needles
from smartstack.erasure.warehouse import erase_from_bigquery, erase_from_duckdb
from smartstack.events.consent_table import ConsentTable
from smartstack.events.feedback_table import FeedbackTable
from smartstack.events.kafka import COMPACTED, producer_config
from smartstack.events.quiz_table import QuizAnswerTable
from smartstack.featurestore import store
from smartstack.featurestore.forget import forget_customer
from smartstack.messaging.cache import ExplanationCache
from smartstack.messaging.cache import default_path as explanation_cache_path
from smartstack.privacy.parquet import drop_customers
from smartstack.serving.caps import RedisFrequencyCaps
from smartstack.settings import OnlineStore, Settings, Warehouse

log = logging.getLogger(__name__)

Erase = Callable[[Settings, str], int]


@dataclass(frozen=True)
class Store:
    name: str
    erase: Erase
    how: str  # one line for the report and docs/privacy.md


def vacuum(path: Path) -> None:
    """Rewrite a SQLite file so deleted rows leave no trace in free pages or the WAL."""
    db = sqlite3.connect(path, timeout=30)
    try:
        db.execute("pragma wal_checkpoint(truncate)")
        db.execute("vacuum")
        db.execute("pragma wal_checkpoint(truncate)")
    finally:
        db.close()


def _delete_sqlite(path: Path, table: str, column: str, customer_id: str) -> int:
    if not path.exists():
        return 0
    db = sqlite3.connect(path, timeout=30)
    try:
        exists = db.execute(
            "select 1 from sqlite_master where type = 'table' and name = ?", (table,)
        ).fetchone()
        if not exists:
            return 0
        with db:
            removed = db.execute(
                f'delete from "{table}" where "{column}" = ?', (customer_id,)
            ).rowcount
    finally:
        db.close()
    vacuum(path)  # also on a resume after a crash between the delete and the vacuum
    return removed


def _online_store(settings: Settings, customer_id: str) -> int:
    return forget_customer(store.get_store(settings), customer_id)


def _engagement(settings: Settings, customer_id: str) -> int:
    engagement = open_store(settings, load_rules(settings.engagement.rules))
    try:
        removed = int(engagement.forget(customer_id))
    finally:
        engagement.close()
    path = settings.engagement.store_path or settings.home / "engagement" / "engagement.sqlite"
    if settings.online_store != OnlineStore.redis and path.exists():
        vacuum(path)
    return removed


def _explanation_cache(settings: Settings, customer_id: str) -> int:
    path = explanation_cache_path(settings)
    if not path.exists():
        return 0
    cache = ExplanationCache(path=path)
    try:
        removed = cache.forget({customer_id})
    finally:
        cache.close()
    vacuum(path)  # also when a serving worker deleted the rows first (it forgets at once)
    return removed


def _caps(settings: Settings, customer_id: str) -> int:
    """The shared caps in Redis; per-process caps and last-served rankings are dropped by each
    worker when it sees the suppression list grow (:mod:`smartstack.serving.forgetting`)."""
    if settings.online_store != OnlineStore.redis:
        return 0
    client = redis.Redis.from_url(settings.redis_url)
    try:
        return int(client.delete(RedisFrequencyCaps.key(customer_id)))
    finally:
        client.close()


def _stream_state(settings: Settings, customer_id: str) -> int:
    return _delete_sqlite(
        settings.stream_state_path,
        "customer_windows",
        "customer_id",
        customer_id,
    )


def _landed_events(settings: Settings, customer_id: str) -> int:
    removed = 0
    for table in (
        FeedbackTable.from_settings(settings),
        QuizAnswerTable.from_settings(settings),
        ConsentTable.from_settings(settings),
    ):
        try:
            removed += table.remove_customer(customer_id)
        finally:
            table.close()
    return removed


def _parquet(*folders: Callable[[Settings], Path]) -> Erase:
    def erase(settings: Settings, customer_id: str) -> int:
        return sum(drop_customers(folder(settings), [customer_id]) for folder in folders)

    return erase


def _raw(settings: Settings) -> Path:
    return settings.raw_dir


def _ground_truth(settings: Settings) -> Path:
    return settings.data_dir / "ground_truth"


def _marts(settings: Settings) -> Path:
    return settings.features_dir


def _warehouse(settings: Settings, customer_id: str) -> int:
    if settings.warehouse == Warehouse.bigquery:
        return erase_from_bigquery(settings, customer_id)
    if settings.warehouse == Warehouse.spark:
        # Spark's tables are folders of Parquet parts, rewritten like the marts' (its own
        # DELETE needs a table format with a log, such as Delta or Iceberg).
        return drop_customers(settings.spark_tables_dir, [customer_id])
    return erase_from_duckdb(settings.duckdb_path, customer_id)


def _kafka(settings: Settings, customer_id: str) -> int:
    """A tombstone (the key, no value) on every compacted, customer-keyed topic: compaction
    then drops every earlier event of the key. Other topics keep their events for their
    retention; replays and the stream drop them by the suppression list."""
    if not settings.kafka_bootstrap_servers:
        return 0
    from confluent_kafka import Producer

    producer = Producer(producer_config(settings.kafka_bootstrap_servers))
    failures: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    for topic in sorted(COMPACTED):
        producer.produce(topic, key=customer_id.encode(), value=None, on_delivery=delivered)
    if producer.flush(30) or failures:
        raise RuntimeError(f"tombstones not acknowledged: {failures or 'timed out'}")
    return len(COMPACTED)


# Text a person or a tool may read later: service and task logs, dbt's log, Data Docs
# (validation results list sample values). Binary stores have erasers of their own.
_TEXT_SUFFIXES = {".log", ".json", ".html", ".txt", ".md", ".yml", ".yaml", ".csv", ".out"}
_TEXT_FOLDERS = ("logs", "quality", "dbt", "airflow", "serving", "events")
REDACTED = "[erased]"


def _text_files(settings: Settings) -> Iterator[Path]:
    for folder in _TEXT_FOLDERS:
        root = settings.home / folder
        if root.is_dir():
            for path in root.rglob("*"):
                if path.is_file() and (path.suffix in _TEXT_SUFFIXES or ".log" in path.name):
                    yield path


def _text_logs(settings: Settings, customer_id: str) -> int:
    """The id and the customer's identifying values (read from raw ``customer_pii``, so this
    runs before the raw tables are erased), in every form the scan looks for (plain, JSON- and
    HTML-escaped), replaced in log and report files. A file is rewritten in place, not
    replaced: a service still appending to it keeps writing to the same file."""
    needles = Needles.for_customer(settings, customer_id)
    forms = sorted({form for needle in needles for form in needle.forms()}, key=len, reverse=True)
    pattern = re.compile(b"|".join(_whole_form(form) for form in forms))
    replaced = 0
    for path in _text_files(settings):
        with path.open("r+b") as handle:
            data = handle.read()
            if not any(form in data for form in forms):
                continue
            redacted, n = pattern.subn(REDACTED.encode(), data)
            if n:
                handle.seek(0)
                handle.write(redacted)
                handle.truncate()
                replaced += n
    return replaced


def _whole_form(form: bytes) -> bytes:
    """The form where it occurs whole, as the scan counts it: an edge that is a digit does not
    continue a longer run of digits."""
    before = rb"(?<!\d)" if form[:1].isdigit() else b""
    after = rb"(?!\d)" if form[-1:].isdigit() else b""
    return before + re.escape(form) + after


# In the order an erasure runs: the stores serving reads first (the customer stops being
# personalised at once), the batch stores after. A dbt build or materialization waits for the
# erasure to finish (privacy.locks), and its ingest has left the customer out since the
# suppression.
STORES: tuple[Store, ...] = (
    Store("online_store", _online_store, "Feast online rows of every customer view deleted "
          "(SQLite rows by entity key; the Redis hash of the entity)"),
    Store("engagement", _engagement, "the customer's streak and badge state deleted"),
    Store("explanation_cache", _explanation_cache, "cached explanations deleted"),
    Store("caps", _caps, "shared frequency caps deleted (Redis); each worker drops its own "
          "caps, last-served ranking and cached text within a poll"),
    Store("stream_state", _stream_state, "the stream processor's spend window deleted"),
    Store("landed_events", _landed_events, "feedback, quiz and consent parts rewritten "
          "without the customer's rows"),
    Store("ranking_log", _parquet(lambda s: s.ranking_log_dir), "ranking-log parts rewritten"),
    Store("shadow_log", _parquet(lambda s: s.shadow_log_dir), "shadow-log parts rewritten"),
    Store("text_logs", _text_logs, "the id and identifying values replaced in service, "
          "task and dbt logs and Data Docs"),
    Store("raw", _parquet(_raw), "raw Parquet parts (customer_pii included) rewritten"),
    Store("ground_truth", _parquet(_ground_truth), "the generator's truth tables rewritten"),
    Store("marts", _parquet(_marts), "mart Parquet (Feast's offline sources) rewritten"),
    Store("warehouse", _warehouse, "DELETE from every warehouse table with a customer_id "
          "(DuckDB; on BigQuery the same statements with a query parameter; on Spark the "
          "tables' Parquet parts rewritten)"),
    Store("kafka", _kafka, "tombstones on the compacted, customer-keyed topics"),
)  # fmt: skip

# Raw tables keyed by customer: where an erasure checks that the id is known at all.
CUSTOMER_TABLES = tuple(t for t, s in RAW_SCHEMAS.items() if "customer_id" in s.names)
