"""The stream processor over a real broker: good events applied, bad ones dead-lettered with the
reason, feedback landed once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smartstack.data.schema import MERCHANT_CATEGORIES
from smartstack.events.contracts import Topic, serialize
from smartstack.events.feedback_table import FeedbackTable
from smartstack.events.interactions import Interactions
from smartstack.events.online_quiz import OnlineQuizWriter
from smartstack.events.online_writer import OnlineSpendWriter
from smartstack.events.processor import StreamProcessor, Totals
from smartstack.events.quiz_table import QuizAnswerTable
from smartstack.events.recent_spend import RecentSpendState
from smartstack.featurestore import store
from smartstack.settings import Settings
from tests.events.helpers import click, publish, read_topic, transaction

T0 = datetime(2026, 6, 30, 8, tzinfo=UTC)


def online_spend(settings: Settings, customer: str) -> dict[str, float | None]:
    names = [f"customer_recent_spend:recent_spend_{c}" for c in MERCHANT_CATEGORIES]
    found = store.get_store(settings).get_online_features(names, [{"customer_id": customer}])
    row = found.to_dict()
    return {c: row[f"recent_spend_{c}"][0] for c in MERCHANT_CATEGORIES}


def run_until(processor: StreamProcessor, consumed: int, timeout: float = 60) -> Totals:
    thread = threading.Thread(target=processor.run, args=(lambda t: t.consumed >= consumed,))
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        processor.stop()
        thread.join(10)
        pytest.fail(f"processed {processor.totals.consumed} of {consumed} events in {timeout}s")
    return processor.totals


def test_good_events_are_applied_and_bad_ones_dead_lettered_with_the_reason(
    broker: str, feast_home: Path
) -> None:
    good = [
        transaction(1, "CUST-A", T0, "dining", 30.0),
        transaction(2, "CUST-A", T0 + timedelta(hours=1), "travel", 400.0),
        transaction(3, "CUST-A", T0 + timedelta(hours=2), "travel", 100.0),
    ]
    bad_amount = json.loads(serialize(transaction(4, "CUST-A", T0, "travel", 1.0)))
    bad_amount["amount"] = -50
    published = publish(
        broker,
        Topic.transactions,
        [("CUST-A", serialize(e)) for e in good]
        + [("CUST-A", json.dumps(bad_amount).encode()), ("CUST-A", b"{not json")],
    )
    clicks = [click("fb-1", "CUST-A", "OFR-001", T0), click("fb-2", "CUST-A", "OFR-002", T0)]
    rating_on_click = json.loads(serialize(click("fb-3", "CUST-A", "OFR-003", T0)))
    rating_on_click["rating"] = 5
    published += publish(
        broker,
        Topic.feedback,
        [("CUST-A", serialize(e)) for e in [*clicks, clicks[0]]]  # fb-1 delivered twice
        + [("CUST-A", json.dumps(rating_on_click).encode())],
    )
    published += publish(broker, Topic.clickstream, [("CUST-A", b'{"event_id": 1}')])

    settings = Settings(home=feast_home)
    table = FeedbackTable(feast_home / "feedback")
    feature_store = store.get_store(settings)
    interactions = Interactions(
        table, QuizAnswerTable(feast_home / "quiz"), OnlineQuizWriter(feature_store), None
    )
    processor = StreamProcessor(
        broker,
        RecentSpendState(feast_home / "state.sqlite"),
        OnlineSpendWriter(feature_store),
        interactions,
        group="test-processor",
        batch_wait=0.2,
    )
    totals = run_until(processor, published)

    assert (totals.transactions, totals.feedback_landed, totals.dead_letters) == (3, 2, 4)
    spend = online_spend(settings, "CUST-A")
    assert spend["travel"] == pytest.approx(500.0) and spend["dining"] == pytest.approx(30.0)
    assert spend["gas"] == 0.0  # the whole row was written on the first transaction
    assert sorted(table.read().column("event_id").to_pylist()) == ["fb-1", "fb-2"]

    letters = read_topic(broker, Topic.dead_letters, expected=4)
    reasons = {
        (dict(m.headers())["dlq.topic"].decode(), dict(m.headers())["dlq.reason"].decode())
        for m in letters
    }
    assert len(letters) == 4
    by_topic = sorted(reasons)
    assert by_topic[0][0] == Topic.clickstream and "session_id: Field required" in by_topic[0][1]
    assert by_topic[1][0] == Topic.feedback and by_topic[1][1].startswith("rating:")
    transaction_reasons = sorted(r for t, r in by_topic if t == Topic.transactions)
    assert transaction_reasons[0].startswith("Invalid JSON")
    assert transaction_reasons[1].startswith("amount:")
    assert {m.value() for m in letters} >= {json.dumps(bad_amount).encode(), b"{not json"}
