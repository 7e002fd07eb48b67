"""Building, publishing and reading events in tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import pandas as pd
from confluent_kafka import Consumer, Producer

from smartstack.data.schema import MERCHANT_CATEGORIES
from smartstack.events.contracts import FeedbackEvent, Topic, TransactionEvent, serialize
from smartstack.events.kafka import producer_config


def transaction(
    txn: int, customer: str, at: datetime, category: str, amount: float
) -> TransactionEvent:
    return TransactionEvent(
        transaction_id=txn,
        customer_id=customer,
        event_timestamp=at,
        merchant_name="Test Merchant",
        merchant_category=category,
        amount=amount,
        currency="USD",
        channel="online",
    )


def click(event_id: str, customer: str, offer: str, at: datetime) -> FeedbackEvent:
    return FeedbackEvent(
        event_id=event_id,
        kind="click",
        customer_id=customer,
        offer_id=offer,
        occurred_at=at,
        request_id=f"req-{event_id}",
    )


def feedback_event(
    event_id: str, kind: str, customer: str, offer: str, at: datetime, **extra: object
) -> FeedbackEvent:
    """A valid feedback event of ``kind``: ratings carry what they rate, the funnel kinds the
    request id ``/rank`` returned."""
    fields = (
        {"rating": 4, "feature_version": "offer_ranking_v1@x", "source": "template"}
        if kind == "rating"
        else {"request_id": f"req-{event_id}"}
    )
    return FeedbackEvent(
        event_id=event_id,
        kind=kind,
        customer_id=customer,
        offer_id=offer,
        occurred_at=at,
        **{**fields, **extra},
    )


def publish(servers: str, topic: Topic, messages: Iterable[tuple[str, bytes | None]]) -> int:
    """Publish ``(key, value)`` pairs and wait until every one is acknowledged."""
    producer = Producer(producer_config(servers))
    sent = 0
    for key, value in messages:
        producer.produce(topic.value, value, key=key.encode())
        producer.poll(0)
        sent += 1
    assert producer.flush(30) == 0, "the broker did not acknowledge every message"
    return sent


def publish_events(servers: str, topic: Topic, events: Iterable) -> int:  # noqa: ANN001
    return publish(servers, topic, ((e.customer_id, serialize(e)) for e in events))


def read_topic(servers: str, topic: Topic, expected: int, timeout: float = 30.0) -> list:
    """The first ``expected`` messages of ``topic`` (from the beginning), or fewer on timeout."""
    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": f"reader-{datetime.now().timestamp()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([topic.value])
    found: list = []
    deadline = datetime.now() + timedelta(seconds=timeout)
    while len(found) < expected and datetime.now() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            found.append(message)
    consumer.close()
    return found


def expected_recent_spend(events: list[TransactionEvent]) -> pd.DataFrame:
    """The definition, computed independently: per customer, spend per category in
    [newest − 7 days, newest] (each id once)."""
    frame = pd.DataFrame(
        [
            (e.transaction_id, e.customer_id, e.event_timestamp, str(e.merchant_category), e.amount)
            for e in events
        ],
        columns=["transaction_id", "customer_id", "at", "category", "amount"],
    ).drop_duplicates("transaction_id")
    newest = frame.groupby("customer_id")["at"].transform("max")
    inside = frame[frame["at"] > newest - pd.Timedelta(days=7)]
    table = inside.pivot_table(
        index="customer_id", columns="category", values="amount", aggfunc="sum", fill_value=0.0
    )
    return table.reindex(columns=list(MERCHANT_CATEGORIES), fill_value=0.0).reindex(
        sorted(frame["customer_id"].unique()), fill_value=0.0
    )
