"""Erasure on the event stream, over a real broker: tombstones on the compacted customer-keyed
topics, and a replay that leaves a suppressed customer's history out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.dataset as ds

from smartstack.erasure.stores import STORES
from smartstack.events.contracts import ConsentEvent, Topic
from smartstack.events.kafka import ensure_topics
from smartstack.events.producers import replay
from smartstack.privacy.suppression import SuppressionList
from smartstack.settings import Settings
from tests.events.helpers import publish_events, read_topic

KAFKA = {s.name: s for s in STORES}["kafka"]


def test_an_erasure_tombstones_the_customer_on_every_compacted_topic(
    broker: str, tmp_path: Path
) -> None:
    ensure_topics(broker)
    settings = Settings(home=tmp_path / "home", kafka_bootstrap_servers=broker)
    stated = ConsentEvent(
        event_id="c-1", customer_id="CUST-ERASED", changed_at=datetime(2026, 7, 1, tzinfo=UTC),
        personalization=False, llm_messaging=False, analytics=True, source="app",
    )  # fmt: skip
    publish_events(broker, Topic.consent, [stated])

    assert KAFKA.erase(settings, "CUST-ERASED") == 2  # the consent and erasure topics

    for topic in (Topic.consent, Topic.erasure):
        theirs = [m for m in read_topic(broker, topic, 2, timeout=20) if m.key() == b"CUST-ERASED"]
        assert theirs, topic
        assert theirs[-1].value() is None, topic  # the newest message of the key: a tombstone
    consent = [m for m in read_topic(broker, Topic.consent, 2, timeout=20)]
    assert [m.value() is None for m in consent] == [False, True]


def test_a_replay_leaves_a_suppressed_customers_events_out(
    broker: str, small_dataset: Path, tmp_path: Path
) -> None:
    ensure_topics(broker)
    transactions = (
        ds.dataset(small_dataset / "raw" / "transactions")
        .to_table(columns=["customer_id", "event_timestamp"])
        .sort_by("event_timestamp")
    )
    first = transactions.slice(0, 400)["customer_id"].to_pylist()
    erased = max(set(first), key=first.count)  # the busiest customer of the first events
    kept = sum(c != erased for c in first)
    suppression = SuppressionList(tmp_path / "suppression.sqlite", b"test-key")
    suppression.add(erased)

    sent = replay(
        small_dataset / "raw", broker, topics=(Topic.transactions,), limit=kept,
        suppression=suppression,
    )  # fmt: skip

    assert sent == kept
    published = read_topic(broker, Topic.transactions, kept, timeout=30)
    keys = [m.key().decode() for m in published]
    assert len(keys) == kept and erased not in keys
    assert sorted(keys) == sorted(c for c in first if c != erased)
