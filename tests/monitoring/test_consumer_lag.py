"""The stream processor's consumer lag against a real broker (tansu), each test on empty topics.

- ``consumer_lag`` (what ``smartstack monitor freshness`` reports) gives, per partition of the
  processor's topics, the high watermark minus the group's committed offset: every produced
  event before the group committed anything, what is left once a real ``StreamProcessor`` has
  applied part of them, and 0 everywhere once it has applied them all. The expected figures come
  from the producer's acknowledgements (where each event was written) and the offsets the
  processor committed (with its state, and at the broker).
- The processor's ``smartstack_consumer_lag`` gauge: a processor stopped after three
  one-event batches reads the partition's events minus the three it applied; once a successor
  has applied the rest, it reads 0.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client import REGISTRY

from smartstack.events import processor as processor_module
from smartstack.events.contracts import Topic, TransactionEvent, serialize
from smartstack.events.feedback_table import FeedbackTable
from smartstack.events.interactions import Interactions
from smartstack.events.kafka import consumer_config, producer_config
from smartstack.events.online_quiz import OnlineQuizWriter
from smartstack.events.online_writer import OnlineSpendWriter
from smartstack.events.processor import (
    CONSUMER_LAG,
    GROUP,
    SUBSCRIBED,
    StreamProcessor,
    Totals,
)
from smartstack.events.quiz_table import QuizAnswerTable
from smartstack.events.recent_spend import RecentSpendState
from smartstack.featurestore import store
from smartstack.monitoring.freshness import consumer_lag
from smartstack.settings import Settings
from tests.events.conftest import running_broker
from tests.events.helpers import transaction

T0 = datetime(2026, 6, 30, 8, tzinfo=UTC)
TOPICS = [t.value for t in SUBSCRIBED]
Partition = tuple[str, int]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    """``host:port`` of a tansu broker of the test's own (empty topics), stopped at the end."""
    yield from running_broker(tmp_path / "broker.log")


@pytest.fixture(scope="module")
def feast_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose Feast registry holds the feature repo (the processor pushes online)."""
    home = tmp_path_factory.mktemp("lag") / "home"
    store.apply(Settings(home=home))
    return home


def produce(servers: str, events: list[TransactionEvent]) -> dict[Partition, int]:
    """Publish ``events`` (keyed by customer); per partition written, the offset after its last
    event, from the acknowledgements."""
    ends: dict[Partition, int] = {}
    errors: list[str] = []

    def delivered(error: object, message: Message) -> None:
        if error is not None:
            errors.append(str(error))
            return
        where = (message.topic(), message.partition())
        ends[where] = max(ends.get(where, 0), message.offset() + 1)

    producer = Producer(producer_config(servers))
    for event in events:
        producer.produce(
            Topic.transactions.value,
            serialize(event),
            key=event.customer_id.encode(),
            on_delivery=delivered,
        )
        producer.poll(0)
    assert producer.flush(30) == 0 and not errors, errors
    return ends


def partitions_of(servers: str) -> list[Partition]:
    topics = AdminClient({"bootstrap.servers": servers}).list_topics(timeout=10).topics
    return sorted((t, p) for t in TOPICS for p in topics[t].partitions)


def committed_at_broker(servers: str, partitions: list[Partition]) -> dict[Partition, int]:
    """The processor group's committed offsets, as the broker has them (only those committed)."""
    consumer = Consumer(consumer_config(servers, GROUP))
    try:
        found = consumer.committed([TopicPartition(t, p) for t, p in partitions], timeout=10)
    finally:
        consumer.close()
    return {(tp.topic, tp.partition): tp.offset for tp in found if tp.offset >= 0}


def lags(servers: str) -> dict[Partition, int]:
    return {(p.topic, p.partition): p.lag for p in consumer_lag(servers, GROUP, TOPICS)}


def gauges() -> dict[Partition, float]:
    """Every ``smartstack_consumer_lag`` series this process has set."""
    return {
        (s.labels["topic"], int(s.labels["partition"])): s.value
        for metric in REGISTRY.collect()
        if metric.name == "smartstack_consumer_lag"
        for s in metric.samples
    }


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout}s: {what}")
        time.sleep(0.2)


def a_processor(servers: str, home: Path, state: Path, max_batch: int = 50_000) -> StreamProcessor:
    feature_store = store.get_store(Settings(home=home))
    interactions = Interactions(
        FeedbackTable(home / "feedback"),
        QuizAnswerTable(home / "quiz"),
        OnlineQuizWriter(feature_store),
        None,
    )
    return StreamProcessor(
        servers,
        RecentSpendState(state),
        OnlineSpendWriter(feature_store),
        interactions,
        group=GROUP,
        max_batch=max_batch,
        batch_wait=0.2,
    )


def run_until(processor: StreamProcessor, until: Callable[[Totals], bool]) -> Totals:
    """Run ``processor`` until ``until(totals)`` (checked after each batch), then it closes."""
    thread = threading.Thread(target=processor.run, args=(until,))
    thread.start()
    thread.join(60)
    if thread.is_alive():
        processor.stop()
        thread.join(10)
        pytest.fail(f"the processor did not get there in 60 s (totals {processor.totals})")
    return processor.totals


def spending(customers: int, each: int) -> list[TransactionEvent]:
    return [
        transaction(c * each + i, f"CUST-{c}", T0 + timedelta(minutes=i), "dining", 10.0 + i)
        for c in range(customers)
        for i in range(each)
    ]


def test_the_lag_is_the_high_watermark_minus_what_the_group_committed(
    broker: str, feast_home: Path, tmp_path: Path
) -> None:
    events = spending(customers=8, each=3)
    ends = produce(broker, events)
    partitions = partitions_of(broker)
    assert len(ends) > 1  # several partitions hold events

    def expected(committed: dict[Partition, int]) -> dict[Partition, int]:
        return {tp: ends.get(tp, 0) - committed.get(tp, 0) for tp in partitions}

    # Nothing committed: each partition's whole log.
    assert committed_at_broker(broker, partitions) == {}
    before = lags(broker)
    assert before == expected({})
    assert sum(before.values()) == len(events)

    # Ten one-event batches applied and committed: the rest.
    first = a_processor(broker, feast_home, tmp_path / "state.sqlite", max_batch=1)
    run_until(first, lambda t: t.consumed >= 10)
    applied = dict(first.state.offsets)
    assert sum(applied.values()) == 10
    wait_for(
        lambda: committed_at_broker(broker, partitions) == applied,
        "the broker has the processor's committed offsets",
    )
    part = lags(broker)
    assert part == expected(applied)
    assert sum(part.values()) == len(events) - 10

    # A successor (same state, same group) applies the rest: nothing left anywhere.
    second = a_processor(broker, feast_home, tmp_path / "state.sqlite")
    run_until(second, lambda t: t.consumed >= len(events) - 10)
    assert second.state.offsets == ends
    wait_for(
        lambda: committed_at_broker(broker, partitions) == ends,
        "the broker has the successor's committed offsets",
    )
    assert lags(broker) == dict.fromkeys(partitions, 0)


# The serving metrics put prometheus_client in multiprocess mode, where clear() warns that the
# other processes' files stay: this process's series, the ones read here, are cleared.
@pytest.mark.filterwarnings("ignore:Clearing labels:UserWarning")
def test_the_processor_gauge_reads_what_is_left_behind_it_then_zero(
    broker: str, feast_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    CONSUMER_LAG.clear()  # only this test's processors' series
    events = spending(customers=1, each=10)
    ends = produce(broker, events)
    ((partition, end),) = ends.items()  # one customer: one partition
    assert end == len(events)

    # Record the lag after every batch, and stop after three one-event batches: the fetch that
    # brought the first event carried the watermark of all ten.
    monkeypatch.setattr(processor_module, "LAG_EVERY_SECONDS", 0.0)
    holding = a_processor(broker, feast_home, tmp_path / "state.sqlite", max_batch=1)
    run_until(holding, lambda t: t.consumed >= 3)
    assert holding.state.offsets == {partition: 3}
    assert gauges() == {partition: end - 3}

    # The successor, with the service's once-a-second recording, applies the rest.
    monkeypatch.undo()
    assert processor_module.LAG_EVERY_SECONDS > 0
    caught_up = a_processor(broker, feast_home, tmp_path / "state.sqlite")
    run_until(caught_up, lambda t: t.consumed >= end - 3 and gauges() == {partition: 0})
    assert caught_up.state.offsets == {partition: end}
    assert gauges() == {partition: 0}
    assert {(p.topic, p.partition) for p in caught_up.assigned} == set(partitions_of(broker))
