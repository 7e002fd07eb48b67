"""The service's outbox against a real broker (tansu): while the broker is down an accepted
event is kept on disk (``stored: outbox``) instead of failing, the drainer sends it once the
broker is back and empties the outbox, a dead process's outbox is adopted by a live one, and a
customer's events reach the topic in the order they were accepted."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smartstack.events.contracts import Topic
from smartstack.events.kafka import start_broker
from smartstack.events.outbox import Drainer, Outbox, outbox_dir
from smartstack.events.producers import (
    OUTBOX,
    BufferedEventSink,
    KafkaEventPublisher,
    event_sink,
    pending_of,
)
from smartstack.settings import Settings
from tests.events.conftest import free_port
from tests.events.helpers import click, read_topic

# A broker of the test's own, stopped and started again.
pytestmark = pytest.mark.slow

T0 = datetime(2026, 6, 30, 8, tzinfo=UTC)


class Broker:
    """A tansu broker on a fixed port that can be stopped and started again there."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.servers = f"127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = start_broker("127.0.0.1", self.port, self.log)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path / "broker.log")
    yield running
    running.stop()


def until(condition: Callable[[], bool], what: str, bound: float = 60.0) -> None:
    """Waits for ``condition``; the bound only keeps a broken build from hanging."""
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.2)


def event_ids(servers: str, expected: int, duplicates: bool = False) -> list[str]:
    """The event ids on the feedback topic. With ``duplicates`` it reads until one more than
    expected is there or the topic stays quiet (15 s), so a duplicate shows as an extra one."""
    more = 1 if duplicates else 0
    messages = read_topic(servers, Topic.feedback, expected=expected + more, timeout=15)
    return [json.loads(m.value())["event_id"] for m in messages]


def dead_pid() -> int:
    """The id of a process that has exited (and was reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def rows_in(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("select count(*) from outbox").fetchone()[0]


def test_events_accepted_while_the_broker_is_down_are_kept_and_delivered_once(
    broker: Broker, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "home", kafka_bootstrap_servers=broker.servers)
    sink = event_sink(settings, lambda: pytest.fail("no embedded writer with a broker"))
    assert isinstance(sink, BufferedEventSink)
    try:
        assert sink.send(click("OB-0", "CUST-A", "OFR-1", T0)) == "kafka"

        broker.stop()
        kept = [click(f"OB-{i}", f"CUST-{i % 3}", "OFR-1", T0) for i in range(1, 6)]
        assert [sink.send(e) for e in kept] == [OUTBOX] * 5
        assert rows_in(sink.outbox.path) == 5  # on disk, not only in memory

        broker.start()  # same port; the in-memory broker starts empty
        until(lambda: len(sink.outbox) == 0, "the outbox drained after the restart")
        assert rows_in(sink.outbox.path) == 0
        assert sink.send(click("OB-6", "CUST-A", "OFR-1", T0)) == "kafka"
    finally:
        sink.close()

    found = Counter(event_ids(broker.servers, expected=6, duplicates=True))
    assert found == Counter({f"OB-{i}": 1 for i in range(1, 7)})  # OB-0 went with the old log


def test_the_outbox_of_a_dead_process_is_adopted_and_delivered(
    broker: Broker, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "home", kafka_bootstrap_servers=broker.servers)
    pid = dead_pid()
    orphan = Outbox(outbox_dir(settings), pid=pid)
    orphan.append([pending_of(click(f"DEAD-{i}", "CUST-D", "OFR-1", T0)) for i in range(4)])
    orphan.close()
    assert orphan.path.exists()

    sink = event_sink(settings, lambda: pytest.fail("no embedded writer with a broker"))
    assert isinstance(sink, BufferedEventSink)
    try:
        until(lambda: not orphan.path.exists(), "the dead process's outbox adopted")
        until(lambda: len(sink.outbox) == 0, "the adopted events delivered")
    finally:
        sink.close()

    assert event_ids(broker.servers, expected=4) == [f"DEAD-{i}" for i in range(4)]


def test_while_the_outbox_holds_events_new_ones_queue_behind_them(
    broker: Broker, tmp_path: Path
) -> None:
    """The broker takes events again, but older ones still wait: a new event goes behind them,
    so the customer's events reach the partition in the order they were accepted."""
    directory = tmp_path / "outbox"
    first, second = (click(f"ORD-{i}", "CUST-O", "OFR-1", T0) for i in (1, 2))
    outbox = Outbox(directory)
    outbox.append([pending_of(first)])
    # A drainer that cannot reach any broker: the older event stays in the outbox.
    nowhere = KafkaEventPublisher(f"127.0.0.1:{free_port()}", timeout=0.5)
    sink = BufferedEventSink(KafkaEventPublisher(broker.servers, timeout=5.0), nowhere, outbox)
    try:
        assert sink.send(second) == OUTBOX
        assert [p.event_id for p in outbox.oldest(10)] == ["ORD-1", "ORD-2"]
    finally:
        sink.close()

    reopened = Outbox(directory)
    drainer = Drainer(reopened, KafkaEventPublisher(broker.servers, timeout=5.0).deliver)
    try:
        until(lambda: len(reopened) == 0, "the outbox drained in order")
    finally:
        drainer.close()
        reopened.close()
    assert event_ids(broker.servers, expected=2) == ["ORD-1", "ORD-2"]
