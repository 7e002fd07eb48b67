"""Producers: the generator's history replayed as a live stream, and the service's feedback,
quiz answers and consent changes.

Both validate against the contract before sending, key by customer (one customer's events stay
in order on one partition) and use the idempotent, acks=all producer.
"""

from __future__ import annotations

import heapq
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pyarrow.compute as pc
import pyarrow.dataset as ds
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from pydantic import BaseModel, Field

from smartstack.events.contracts import (
    CONTRACTS,
    ConsentEvent,
    FeedbackEvent,
    QuizAnswerEvent,
    Topic,
    serialize,
)
from smartstack.events.interactions import Interactions
from smartstack.events.kafka import producer_config
from smartstack.events.outbox import Drainer, Outbox, Pending, outbox_dir
from smartstack.events.privacy_feed import count_dropped
from smartstack.privacy.suppression import SuppressionList
from smartstack.settings import Settings

logger = logging.getLogger(__name__)

# What the service accepts from customers.
CustomerEvent = FeedbackEvent | QuizAnswerEvent | ConsentEvent
# Where an accepted event is kept until the broker takes it (EventReceipt.stored; HTTP 202).
OUTBOX = "outbox"


def topic_of(event: CustomerEvent) -> Topic:
    """The topic an event travels on (by isinstance: BentoML hands the endpoint a subclass)."""
    if isinstance(event, FeedbackEvent):
        return Topic.feedback
    return Topic.consent if isinstance(event, ConsentEvent) else Topic.quiz


def pending_of(event: CustomerEvent) -> Pending:
    """The event as it goes on the wire: its topic, keyed by customer (one partition each)."""
    return Pending(
        topic_of(event).value, event.customer_id.encode(), serialize(event), event.event_id
    )


# Raw table behind each replayable topic.
REPLAY_TABLES: dict[Topic, str] = {
    Topic.transactions: "transactions",
    Topic.clickstream: "clickstream",
}
_CHUNK = 20_000


class PublishFailed(RuntimeError):
    """The broker did not acknowledge in time; nothing can be assumed about the event."""


def _time_ordered(
    raw_dir: Path,
    topics: Sequence[Topic],
    since: datetime | None,
    suppression: SuppressionList | None = None,
) -> Iterator[tuple[Topic, dict]]:
    """Rows of the topics' raw tables, merged in event-time order, a chunk in memory at a time;
    rows of customers on the suppression list are left out (asked once per chunk)."""

    def rows(topic: Topic) -> Iterator[tuple[Topic, dict]]:
        dataset = ds.dataset(raw_dir / REPLAY_TABLES[topic], format="parquet")
        condition = None if since is None else pc.field("event_timestamp") >= since
        table = dataset.to_table(filter=condition).sort_by("event_timestamp")
        for batch in table.to_batches(max_chunksize=_CHUNK):
            chunk = batch.to_pylist()
            if suppression is not None:
                erased = suppression.suppressed(row["customer_id"] for row in chunk)
                if erased:
                    kept = [row for row in chunk if row["customer_id"] not in erased]
                    count_dropped("replay", len(chunk) - len(kept), len(erased))
                    chunk = kept
            for row in chunk:
                yield topic, row

    return heapq.merge(*(rows(t) for t in topics), key=lambda item: item[1]["event_timestamp"])


def replay(
    raw_dir: Path,
    servers: str,
    topics: Sequence[Topic] = (Topic.transactions, Topic.clickstream),
    rate: float = 0.0,
    since: datetime | None = None,
    limit: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    suppression: SuppressionList | None = None,
) -> int:
    """Publish the generated rows in event-time order at ``rate`` events/s (0: flat out);
    returns how many were acknowledged. Rows that break their contract raise: the generator's
    output is meant to meet it. Rows of customers on ``suppression`` are not sent."""
    producer = Producer(producer_config(servers, **{"linger.ms": 20}))
    failures: list[str] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(str(error))

    sent = 0
    started = time.monotonic()
    for topic, row in _time_ordered(raw_dir, topics, since, suppression):
        if limit is not None and sent >= limit:
            break
        event = CONTRACTS[topic].model_validate(row)
        while True:
            try:
                producer.produce(
                    topic.value,
                    serialize(event),
                    key=row["customer_id"].encode(),
                    on_delivery=delivered,
                )
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.1)
        producer.poll(0)
        sent += 1
        if rate > 0:
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        if on_progress and sent % 10_000 == 0:
            on_progress(sent)
    remaining = producer.flush(60)
    if remaining or failures:
        raise PublishFailed(
            f"{remaining + len(failures)} of {sent} events not acknowledged: "
            + "; ".join(failures[:3] or ["timeout"])
        )
    return sent


class EventReceipt(BaseModel):
    """The answer of ``POST /feedback`` and ``POST /quiz``: where the event is now durable, or
    why it is not."""

    event_id: str
    stored: str | None = Field(
        None,
        description="kafka (the event's topic), outbox (the broker cannot take it now: kept on "
        "the service's disk and sent when the broker is back; HTTP 202) or table (embedded "
        "mode, no broker)",
    )
    error: str | None = Field(None, description="why nothing was stored (HTTP 503): retry")


class EventSink(Protocol):
    """Where the service puts an accepted event; ``send`` returns once it is durable, and
    where (``EventReceipt.stored``)."""

    name: str

    def send(self, event: CustomerEvent) -> str: ...

    def close(self) -> None: ...


class KafkaEventPublisher:
    """Publishes to the event's topic and waits for the broker's acknowledgement.

    ``send`` returns only when the event is acknowledged by all in-sync replicas and raises
    :class:`PublishFailed` otherwise, so the endpoint never answers 200 for an event that could
    still be lost. The wait (``timeout``) stays inside the service's request timeout (5 s); the
    service's :class:`BufferedEventSink` keeps an event this raises for in its outbox.

    After a failed send the producer is replaced: an idempotent producer stops for good on a
    fatal error (e.g. a broker that forgot its producer id, as the local in-memory broker does
    when restarted) and can stay stuck after an outage, so the client's retry gets a fresh one.
    """

    name = "kafka"

    def __init__(self, servers: str, timeout: float = 3.0, warm: Sequence[Topic] = ()) -> None:
        self._servers = servers
        self._timeout = timeout
        self._lock = threading.Lock()
        self._producer = self._new_producer()
        # A new producer's first send waits about 1 s for the topic's metadata, longer than a
        # short ``timeout``: asked for here, the first request's send does not time out.
        for topic in warm:
            try:
                self._producer.list_topics(topic.value, timeout=timeout)
            except KafkaException:
                break  # the broker is down: the outbox takes the first events

    def _new_producer(self) -> Producer:
        return Producer(
            producer_config(
                self._servers, **{"linger.ms": 0, "message.timeout.ms": int(self._timeout * 1000)}
            )
        )

    def send(self, event: CustomerEvent) -> str:
        self.publish(pending_of(event))
        return self.name

    def publish(self, message: Pending) -> None:
        """Returns once the broker acknowledged ``message``; raises :class:`PublishFailed`."""
        taken, reason = self._deliver([message])
        if not taken:
            raise PublishFailed(reason)

    def deliver(self, messages: Sequence[Pending]) -> int:
        """Sends ``messages`` in order; how many of the first were acknowledged (the outbox's
        drainer deletes those and sends the rest again later)."""
        return self._deliver(messages)[0]

    def _deliver(self, messages: Sequence[Pending]) -> tuple[int, str]:
        producer = self._producer
        outcomes: dict[int, KafkaError | None] = {}
        produced = 0

        def delivered_as(index: int) -> Callable[[KafkaError | None, Message], None]:
            def delivered(error: KafkaError | None, _message: Message) -> None:
                outcomes[index] = error

            return delivered

        reason = "no acknowledgement in time"
        try:
            for index, message in enumerate(messages):
                producer.produce(
                    message.topic, message.value, key=message.key, on_delivery=delivered_as(index)
                )
                produced += 1
        except BufferError:
            reason = "the producer's queue is full"
        except KafkaException as error:
            reason = f"the producer failed: {error.args[0].str()}"
        if produced:
            # librdkafka reports the timeout itself after message.timeout.ms; this is a backstop.
            deadline = time.monotonic() + self._timeout + 0.5
            try:
                while len(outcomes) < produced and time.monotonic() < deadline:
                    producer.poll(0.05)
            except KafkaException as error:  # e.g. fatal: a restarted broker forgot our id
                reason = f"the producer failed: {error.args[0].str()}"
        taken = 0
        while taken < produced and taken in outcomes and outcomes[taken] is None:
            taken += 1
        if taken < len(messages):
            self._replace(producer)
            failed = outcomes.get(taken)
            if failed is not None:
                reason = f"the broker did not take the event ({failed.str()})"
            elif produced == len(messages):
                reason = f"the broker did not take the event ({reason})"
        return taken, reason

    def _replace(self, failed: Producer) -> None:
        with self._lock:
            if self._producer is failed:
                self._producer = self._new_producer()
                failed.purge()  # answered 503 already: the client sends it again

    def close(self) -> None:
        self._producer.flush(self._timeout)


class DirectEventWriter:
    """Embedded mode (no broker configured): the event is applied at once, through the same
    idempotent steps the stream processor takes (tables, online quiz and consent views,
    engagement, the audit log); an erased customer's event is dropped, as the stream drops it."""

    name = "table"

    def __init__(self, interactions: Interactions) -> None:
        self._interactions = interactions

    def send(self, event: CustomerEvent) -> str:
        if self._interactions.suppressed([event.customer_id]):
            count_dropped("service", 1, 1)
            return self.name
        if isinstance(event, FeedbackEvent):
            self._interactions.land([event], [])
        elif isinstance(event, ConsentEvent):
            self._interactions.land([], [], [event])
        else:
            self._interactions.land([], [event])
        return self.name

    def close(self) -> None:
        self._interactions.close()


class BufferedEventSink:
    """The service's sink with a broker: straight to the broker when it takes the event within
    ``publisher``'s short wait, else into this process's :class:`~smartstack.events.outbox.Outbox`
    (HTTP 202), which a background thread sends through ``drainer``.

    The short wait (0.5 s, not the 3 s a 503 used to take) keeps a request thread from being
    held by a broker that is down. While the outbox holds anything, new events go into it too,
    behind the older ones, so none of a customer's events overtakes an earlier one; a non-empty
    outbox is thus the open circuit, and the drainer (sending the oldest rows) its probe. A
    breaker such as pybreaker's would add nothing here, and its ``call`` holds a lock across
    the call, which would queue every request behind one slow publish.
    """

    name = "kafka"

    def __init__(
        self, publisher: KafkaEventPublisher, drainer: KafkaEventPublisher, outbox: Outbox
    ):
        self._publisher = publisher
        self._drainer_publisher = drainer
        self.outbox = outbox
        self._drainer = Drainer(outbox, drainer.deliver)

    def send(self, event: CustomerEvent) -> str:
        message = pending_of(event)
        if not len(self.outbox):
            try:
                self._publisher.publish(message)
                return self.name
            except Exception as error:  # noqa: BLE001 - not known to be acknowledged: keep it
                logger.warning("event %s kept in the outbox: %s", event.event_id, error)
        try:
            self.outbox.append([message])
        except sqlite3.Error as error:  # not durable anywhere: the client retries (503)
            raise PublishFailed(f"the outbox cannot keep the event ({error})") from None
        return OUTBOX

    def close(self) -> None:
        self._drainer.close()
        self._publisher.close()
        self._drainer_publisher.close()
        self.outbox.close()


def event_sink(settings: Settings, interactions: Callable[[], Interactions]) -> EventSink:
    """Kafka (with this process's outbox) when a broker is configured, else ``interactions()``
    applied in this process."""
    servers = settings.kafka_bootstrap_servers
    if servers:
        return BufferedEventSink(
            KafkaEventPublisher(
                servers, timeout=0.5, warm=(Topic.feedback, Topic.quiz, Topic.consent)
            ),
            KafkaEventPublisher(servers, timeout=5.0),
            Outbox(outbox_dir(settings)),
        )
    return DirectEventWriter(interactions())
