"""A dead letter the broker does not acknowledge: the processor commits nothing of the batch (not
its state's offsets, not Kafka's), stops with :class:`DeadLetterFailed`, and its successor
consumes the same events again: the bad one is dead-lettered then, the good one counts once.

The fault is real: the broker (tansu) is paused (SIGSTOP) at the moment the processor publishes
the dead letter, after it consumed the batch, so the letter times out unacknowledged
(``message.timeout.ms``, 30 s); the broker resumes once the failure is reported. tansu keeps its
log in memory, so it is paused, never restarted: a restart would forget the events themselves.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from smartstack.events.contracts import Topic, serialize
from smartstack.events.feedback_table import FeedbackTable
from smartstack.events.interactions import Interactions
from smartstack.events.kafka import consumer_config, start_broker
from smartstack.events.online_quiz import OnlineQuizWriter
from smartstack.events.online_writer import OnlineSpendWriter
from smartstack.events.processor import DeadLetterFailed, StreamProcessor
from smartstack.events.quiz_table import QuizAnswerTable
from smartstack.events.recent_spend import RecentSpendState
from smartstack.featurestore import store
from smartstack.settings import Settings
from tests.events.conftest import free_port
from tests.events.helpers import publish, read_topic, transaction
from tests.events.test_processor import online_spend

# A broker of its own (not the `broker` fixture conftest marks) and a 30 s delivery timeout.
pytestmark = pytest.mark.slow

T0 = datetime(2026, 6, 30, 8, tzinfo=UTC)
GROUP = "test-unacknowledged"


@pytest.fixture
def paused_broker(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A tansu broker of the test's own, and its process (to pause)."""
    port = free_port()
    process = start_broker("127.0.0.1", port, tmp_path / "broker.log")
    yield f"127.0.0.1:{port}", process
    process.send_signal(signal.SIGCONT)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class PausingProcessor(StreamProcessor):
    """Pauses the broker just before publishing its first dead letter; resumes it once the
    letter's delivery has failed."""

    def __init__(self, broker: subprocess.Popen[bytes], *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._broker = broker
        self.paused = False
        self.failures: list[str] = []

    def _dead_letter(self, message: Message, reason: str) -> None:
        if not self.paused:
            self._broker.send_signal(signal.SIGSTOP)
            self.paused = True
        super()._dead_letter(message, reason)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failures.append(error.str())
            self._broker.send_signal(signal.SIGCONT)
        super()._delivered(error, message)


def processor_of(
    cls: type[StreamProcessor], home: Path, servers: str, *before: object
) -> StreamProcessor:
    feature_store = store.get_store(Settings(home=home))
    interactions = Interactions(
        FeedbackTable(home / "feedback"),
        QuizAnswerTable(home / "quiz"),
        OnlineQuizWriter(feature_store),
        None,
    )
    return cls(
        *before,
        servers,
        RecentSpendState(home / "state.sqlite"),
        OnlineSpendWriter(feature_store),
        interactions,
        group=GROUP,
        batch_wait=0.5,
    )


def committed_at_broker(servers: str, partitions: list[TopicPartition]) -> list[int]:
    consumer = Consumer(consumer_config(servers, GROUP))
    try:
        return [p.offset for p in consumer.committed(partitions, timeout=10)]
    finally:
        consumer.close()


def test_an_unacknowledged_dead_letter_commits_nothing_and_is_retried_after_restart(
    paused_broker: tuple[str, subprocess.Popen[bytes]], feast_home: Path
) -> None:
    servers, broker = paused_broker
    bad = json.loads(serialize(transaction(2, "CUST-D", T0, "travel", 10.0)))
    bad["amount"] = -10
    publish(
        servers,
        Topic.transactions,
        [
            ("CUST-D", json.dumps(bad).encode()),
            ("CUST-D", serialize(transaction(1, "CUST-D", T0, "dining", 40.0))),
        ],
    )

    first = processor_of(PausingProcessor, feast_home, servers, broker)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            first.run(lambda t: t.batches >= 1)
        except BaseException as error:  # noqa: BLE001 - asserted on below
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the processor neither failed nor committed"
    assert first.paused and first.failures, "the dead letter was acknowledged"
    assert len(errors) == 1 and isinstance(errors[0], DeadLetterFailed), errors
    assert "not acknowledged" in str(errors[0])
    assert first.totals.batches == 0  # no batch was committed
    first.interactions.close()

    # Nothing of the batch is committed: not in the processor's state, not at the broker.
    state = RecentSpendState(feast_home / "state.sqlite")
    assert state.offsets == {}
    assert state.customers == {}
    assert all(offset < 0 for offset in committed_at_broker(servers, first.assigned))

    # A successor consumes both events again: the letter goes out now, the spend counts once.
    second = processor_of(StreamProcessor, feast_home, servers)
    totals = second.run(lambda t: t.consumed >= 2)
    second.interactions.close()
    assert (totals.dead_letters, totals.transactions) == (1, 1)
    assert online_spend(Settings(home=feast_home), "CUST-D")["dining"] == pytest.approx(40.0)
    letters = read_topic(servers, Topic.dead_letters, expected=1)
    assert [m.value() for m in letters] == [json.dumps(bad).encode()]
    assert dict(letters[0].headers())["dlq.reason"].decode().startswith("amount:")
    reopened = RecentSpendState(feast_home / "state.sqlite")
    assert sum(reopened.offsets.values()) == 2  # both events consumed and committed
