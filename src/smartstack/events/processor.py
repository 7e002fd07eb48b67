"""The stream processor: one consumer-group member applying events in micro-batches.

Each batch (up to ``max_batch`` messages, or what arrived within ``batch_wait`` seconds):

1. validate every message against its topic's contract; a failure is published to the
   dead-letter topic with the reason in the ``dlq.reason`` header (and the source topic,
   partition and offset), never dropped;
2. record the batch's erasure requests (work list, suppression list, audit log), then drop
   every event of a suppressed customer (one look-up per batch, counted in
   ``smartstack_suppressed_events``);
3. land feedback events in the feedback table and quiz answers in the quiz table (deduplicated
   by event id), push the quiz answers to the online store (the next ranking uses them) and
   count feedback and answers in the engagement store (idempotent per event id); audit, land
   and push consent changes the same way (``customer_consent``);
4. add transactions to the recent-spend state and push one row per touched customer to the
   online store (a pure function of the state, so a repeated push is harmless);
5. wait for the dead letters' acknowledgements, then commit the state and the consumed offsets
   in one SQLite transaction, then commit the offsets to Kafka (for lag monitoring).

A crash anywhere before step 5 re-delivers the batch on restart: feedback, quiz answers,
engagement and transactions already applied are recognised by id, so every event counts once.
Clickstream events are validated (bad ones dead-lettered) and counted; no streaming feature
reads them yet.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from prometheus_client import Counter, Gauge, Histogram

from smartstack.events.contracts import (
    COMPACTED,
    ClickstreamEvent,
    ConsentEvent,
    ContractViolation,
    ErasureEvent,
    FeedbackEvent,
    QuizAnswerEvent,
    Topic,
    TransactionEvent,
    parse,
)
from smartstack.events.interactions import Interactions, store_retry
from smartstack.events.kafka import consumer_config, producer_config
from smartstack.events.online_writer import OnlineSpendWriter
from smartstack.events.privacy_feed import count_dropped, drop_suppressed
from smartstack.events.recent_spend import BatchChanges, RecentSpendState

log = logging.getLogger(__name__)

EVENTS = Counter(
    "smartstack_stream_events",
    "Events consumed by the stream processor, by topic and what became of them.",
    ["topic", "outcome"],
)
BATCH_SECONDS = Histogram(
    "smartstack_stream_batch_seconds",
    "Time to apply one micro-batch (validate, land, push online, commit).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
)
ONLINE_ROWS = Counter("smartstack_stream_online_rows", "Customer rows pushed to the online store.")
EVENT_LAG = Gauge(
    "smartstack_stream_event_lag_seconds",
    "Wall-clock time minus the event time of the newest transaction applied.",
)

CONSUMER_LAG = Gauge(
    "smartstack_consumer_lag",
    "Messages behind per assigned partition: the high watermark the last fetch saw minus the "
    "consumer's position (its committed offset once a batch is applied).",
    ["topic", "partition"],
)
# The consumer group `smartstack events process` joins unless told otherwise.
GROUP = "smartstack-stream-processor"
LAG_EVERY_SECONDS = 1.0

SUBSCRIBED = (
    Topic.transactions,
    Topic.clickstream,
    Topic.feedback,
    Topic.quiz,
    Topic.consent,
    Topic.erasure,
)


# What a dead letter copies of the source message at most: a hostile message can be as large as
# the source topic allows, and a copy over the producer's ``message.max.bytes`` (1 MB) would be
# refused at ``produce`` and stop the processor on the same message at every restart. A longer
# value is cut, and its length is in the ``dlq.truncated`` header.
DEAD_LETTER_VALUE_BYTES = 256 * 1024
DEAD_LETTER_KEY_BYTES = 1024
DEAD_LETTER_REASON_CHARS = 4096


class DeadLetterFailed(RuntimeError):
    """The dead-letter topic did not acknowledge; the batch is not committed."""


@dataclass
class Totals:
    """Running counts since start, for progress lines and tests."""

    consumed: int = 0
    transactions: int = 0
    duplicates: int = 0
    too_old: int = 0
    feedback_landed: int = 0
    quiz_landed: int = 0
    consent_landed: int = 0
    erasures: int = 0  # customers whose erasure request was recorded
    suppressed: int = 0  # events of erased customers dropped
    engagement_counted: int = 0
    clickstream: int = 0
    dead_letters: int = 0
    online_rows: int = 0
    batches: int = 0
    seconds_applying: float = field(default=0.0)


class StreamProcessor:
    def __init__(
        self,
        servers: str,
        state: RecentSpendState,
        writer: OnlineSpendWriter,
        interactions: Interactions,
        group: str,
        max_batch: int = 50_000,
        batch_wait: float = 0.5,
    ) -> None:
        self.state = state
        self.writer = writer
        self.interactions = interactions
        self.totals = Totals()
        self._max_batch = max_batch
        self._batch_wait = batch_wait
        self._consumer = Consumer(consumer_config(servers, group))
        self._dead_letters = Producer(producer_config(servers))
        self._dlq_errors: list[str] = []
        self._stop = threading.Event()
        self.assigned: list[TopicPartition] = []
        self._lag_at = 0.0

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand and return (signal handlers call this)."""
        self._stop.set()

    def run(self, until: Callable[[Totals], bool] | None = None) -> Totals:
        """Consume and apply until :meth:`stop` (or ``until(totals)`` is true)."""
        self._consumer.subscribe([t.value for t in SUBSCRIBED], on_assign=self._on_assign)
        try:
            while not self._stop.is_set() and not (until and until(self.totals)):
                messages = self._consumer.consume(self._max_batch, self._batch_wait)
                if messages:
                    self._apply(messages)
                self._record_lag()
        finally:
            self._consumer.close()  # leaves the group at once, so a successor takes over fast
            self._dead_letters.flush(10)
        return self.totals

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start each partition where the committed state says, not where Kafka does: the
        state's offsets are written with the state, Kafka's only after it."""
        for partition in partitions:
            stored = self.state.offsets.get((partition.topic, partition.partition))
            if stored is not None:
                partition.offset = self._start_of(consumer, partition, stored)
        consumer.assign(partitions)
        self.assigned = partitions
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))

    def _start_of(self, consumer: Consumer, partition: TopicPartition, stored: int) -> int:
        """The stored offset, unless the partition's log now ends before it: the broker lost
        the log (the local, in-memory broker restarted) and fills a new one, which the stored
        offset would skip up to where the old one ended. That one is read from its start; what
        was applied before is recognised by event id."""
        try:
            low, high = consumer.get_watermark_offsets(partition, timeout=5, cached=False)
        except KafkaException:
            return stored  # the broker cannot say now: as before
        if stored <= high:
            return stored
        log.warning(
            "%s[%d] ends at %d, before the stored offset %d: the log was reset; reading it "
            "from %d",
            partition.topic, partition.partition, high, stored, max(low, 0),
        )  # fmt: skip
        return max(low, 0)

    def _record_lag(self) -> None:
        """Each assigned partition's lag, at most once a second, from what the client already
        knows (cached watermarks and the local position): no broker round trip."""
        now = time.monotonic()
        if now - self._lag_at < LAG_EVERY_SECONDS or not self.assigned:
            return
        self._lag_at = now
        try:
            positions = self._consumer.position(self.assigned)
        except KafkaException:  # a rebalance took the partitions meanwhile: next time
            return
        for tp in positions:
            _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0 and tp.offset >= 0:
                CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(high - tp.offset, 0))

    def _apply(self, messages: list[Message]) -> None:
        # A batch creates ~10 objects per event and frees them by reference counting; the cyclic
        # collector would walk every window of the state on each pass, which doubled the cost
        # of parsing. It runs between batches instead.
        gc.disable()
        try:
            self._apply_batch(messages)
        finally:
            gc.enable()

    def _apply_batch(self, messages: list[Message]) -> None:
        started = time.perf_counter()
        transactions: list[TransactionEvent] = []
        feedback: list[FeedbackEvent] = []
        answers: list[QuizAnswerEvent] = []
        consents: list[ConsentEvent] = []
        erasures: list[ErasureEvent] = []
        clicks: list[ClickstreamEvent] = []
        offsets: dict[tuple[str, int], int] = {}
        totals = self.totals
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(error)
                continue
            topic = message.topic()
            offsets[(topic, message.partition())] = message.offset() + 1
            totals.consumed += 1
            if message.value() is None and topic in COMPACTED:
                # An erasure's tombstone: it deletes the key's history at compaction and
                # carries nothing to apply (dead-lettering it would copy the id elsewhere).
                EVENTS.labels(topic, "tombstone").inc()
                continue
            try:
                event = parse(topic, message.value())
            except ContractViolation as violation:
                self._dead_letter(message, violation.reason)
                continue
            if isinstance(event, TransactionEvent):
                transactions.append(event)
            elif isinstance(event, FeedbackEvent):
                feedback.append(event)
            elif isinstance(event, QuizAnswerEvent):
                answers.append(event)
            elif isinstance(event, ConsentEvent):
                consents.append(event)
            elif isinstance(event, ErasureEvent):
                erasures.append(event)
            else:
                clicks.append(event)

        lists = (transactions, feedback, answers, consents, erasures, clicks)
        transactions, feedback, answers, consents, clicks = self._screen(*lists)
        totals.clickstream += len(clicks)
        EVENTS.labels(Topic.clickstream.value, "validated").inc(len(clicks))

        if feedback or answers or consents:
            landed = self.interactions.land(feedback, answers, consents)
            totals.feedback_landed += landed.feedback
            totals.quiz_landed += landed.quiz
            totals.consent_landed += landed.consent
            totals.engagement_counted += landed.counted
            for topic, events, new in (
                (Topic.feedback, feedback, landed.feedback),
                (Topic.quiz, answers, landed.quiz),
                (Topic.consent, consents, landed.consent),
            ):
                EVENTS.labels(topic.value, "landed").inc(new)
                EVENTS.labels(topic.value, "duplicate").inc(len(events) - new)

        changes = BatchChanges()
        if transactions:
            self.state.apply(transactions, changes)
            rows = self._write_online(list(self.state.rows(changes)))
            totals.online_rows += rows
            ONLINE_ROWS.inc(rows)
            applied = len(transactions) - changes.duplicates - changes.too_old
            totals.transactions += applied
            totals.duplicates += changes.duplicates
            totals.too_old += changes.too_old
            EVENTS.labels(Topic.transactions.value, "applied").inc(applied)
            EVENTS.labels(Topic.transactions.value, "duplicate").inc(changes.duplicates)
            EVENTS.labels(Topic.transactions.value, "too_old").inc(changes.too_old)
            newest = max(t.event_timestamp for t in transactions)
            EVENT_LAG.set(time.time() - newest.timestamp())

        self._confirm_dead_letters()
        self.state.commit(changes, offsets)
        self._consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
            asynchronous=True,
        )
        elapsed = time.perf_counter() - started
        totals.batches += 1
        totals.seconds_applying += elapsed
        BATCH_SECONDS.observe(elapsed)

    def _screen(
        self,
        transactions: list[TransactionEvent],
        feedback: list[FeedbackEvent],
        answers: list[QuizAnswerEvent],
        consents: list[ConsentEvent],
        erasures: list[ErasureEvent],
        clicks: list[ClickstreamEvent],
    ) -> tuple[
        list[TransactionEvent],
        list[FeedbackEvent],
        list[QuizAnswerEvent],
        list[ConsentEvent],
        list[ClickstreamEvent],
    ]:
        """Record the batch's erasure requests, then drop every event of a suppressed customer
        (those erased before and those who asked in this batch): one look-up per batch."""
        lists = (transactions, feedback, answers, consents, clicks)
        customers = {e.customer_id for events in (*lists, erasures) for e in events}
        suppressed = self.interactions.suppressed(customers)
        fresh = [e for e in erasures if e.customer_id not in suppressed]
        if fresh:
            requested = self.interactions.request_erasure(fresh)
            self.totals.erasures += len(requested)
            EVENTS.labels(Topic.erasure.value, "recorded").inc(len(fresh))
            suppressed |= requested
        if not suppressed:
            return lists
        kept = tuple(drop_suppressed(events, suppressed) for events in lists)
        dropped = sum(map(len, lists)) - sum(map(len, kept)) + len(erasures) - len(fresh)
        self.totals.suppressed += dropped
        count_dropped("stream", dropped, len(suppressed))
        return kept  # type: ignore[return-value]

    @store_retry
    def _write_online(self, rows: list[tuple[str, datetime, dict[int, float]]]) -> int:
        """The batch's rows into the online store, retried while the store is unreachable (the
        rows are a pure function of the state, so a retry writes the same)."""
        return self.writer.write(rows)

    def _dead_letter(self, message: Message, reason: str) -> None:
        topic = message.topic()
        value, key = message.value(), message.key()
        if len(reason) > DEAD_LETTER_REASON_CHARS:
            reason = reason[:DEAD_LETTER_REASON_CHARS] + "…"
        headers = [
            ("dlq.reason", reason.encode(errors="backslashreplace")),
            ("dlq.topic", topic.encode()),
            ("dlq.partition", str(message.partition()).encode()),
            ("dlq.offset", str(message.offset()).encode()),
        ]
        if value is not None and len(value) > DEAD_LETTER_VALUE_BYTES:
            headers.append(("dlq.truncated", str(len(value)).encode()))
            value = value[:DEAD_LETTER_VALUE_BYTES]
        if key is not None and len(key) > DEAD_LETTER_KEY_BYTES:
            headers.append(("dlq.key_truncated", str(len(key)).encode()))
            key = key[:DEAD_LETTER_KEY_BYTES]
        while True:
            try:
                self._dead_letters.produce(
                    Topic.dead_letters.value,
                    value=value,
                    key=key,
                    headers=headers,
                    on_delivery=self._delivered,
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain, then again
                self._dead_letters.poll(1)
        self.totals.dead_letters += 1
        EVENTS.labels(topic, "dead_letter").inc()
        log.warning("dead letter from %s@%d: %s", topic, message.offset(), reason)

    def _delivered(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._dlq_errors.append(str(error))

    def _confirm_dead_letters(self) -> None:
        if self._dead_letters.flush(30) or self._dlq_errors:
            errors, self._dlq_errors = self._dlq_errors, []
            raise DeadLetterFailed(
                f"dead letters not acknowledged ({'; '.join(errors) or 'timeout'}); "
                "the batch was not committed and will be consumed again"
            )
