"""Malformed and hostile events on every topic the stream processor consumes, through a real
broker and the real processor: each bad one is dead-lettered with a reason naming the problem,
the processor keeps running (a valid event of every topic published after them all takes
effect), and what is valid by design (an unknown customer, markup in free text, a tombstone on
a compacted topic) is applied or skipped, not dead-lettered.

Decisions the cases encode (see ``smartstack.events.contracts``):

- unknown customer ids are valid: the processor keeps no customer registry, and a new
  customer's first events arrive before any batch table lists them;
- SQL- or HTML-like text in free-text fields (merchant name, search term, request id) is
  data: it is stored as given (parameterised writes, Parquet), never interpreted; in ids it
  breaks their pattern and is dead-lettered;
- a tombstone (no value) on a compacted topic (consent, erasure) is an erasure's deletion
  marker: skipped, not dead-lettered; on any other topic it is a dead letter;
- event times before 1970 or more than a day ahead of the clock are dead letters (a future
  transaction would take over its customer's window), as are amounts above 1e9 and ids beyond
  int64.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Message, Producer

from smartstack.events.consent_table import ConsentTable
from smartstack.events.contracts import COMPACTED, Topic
from smartstack.events.feedback_table import FeedbackTable
from smartstack.events.interactions import Interactions
from smartstack.events.kafka import producer_config
from smartstack.events.online_consent import OnlineConsentWriter
from smartstack.events.online_quiz import OnlineQuizWriter
from smartstack.events.online_writer import OnlineSpendWriter
from smartstack.events.privacy_feed import PrivacyRecords
from smartstack.events.processor import (
    DEAD_LETTER_KEY_BYTES,
    DEAD_LETTER_VALUE_BYTES,
    SUBSCRIBED,
    StreamProcessor,
    Totals,
)
from smartstack.events.quiz_table import QuizAnswerTable
from smartstack.events.recent_spend import RecentSpendState
from smartstack.featurestore import store
from smartstack.privacy.purposes import CONSENT_COLUMNS, Purpose
from smartstack.settings import Settings
from tests.events.helpers import read_topic
from tests.events.test_processor import online_spend

AT = "2026-06-30T08:00:00Z"
MB = 1_000_000
INJECTION = "'; DROP TABLE customers; -- <script>alert(1)</script>"

# A valid event per topic, and its time field, a numeric (or boolean) field and a free-text
# field (None: the contract has none).
VALID: dict[Topic, dict[str, Any]] = {
    Topic.transactions: {
        "transaction_id": 1, "customer_id": "CUST-H", "event_timestamp": AT,
        "merchant_name": "Cafe", "merchant_category": "dining", "amount": 12.5,
        "currency": "USD", "channel": "online",
    },
    Topic.clickstream: {
        "event_id": 1, "customer_id": "CUST-H", "session_id": 7, "event_timestamp": AT,
        "event_name": "page_view", "page_location": "https://example.com/offers",
        "device_category": "mobile",
    },
    Topic.feedback: {
        "event_id": "fb-h", "kind": "click", "customer_id": "CUST-H", "offer_id": "OFR-001",
        "occurred_at": AT, "request_id": "req-1", "position": 1,
    },
    Topic.quiz: {
        "event_id": "q-h", "customer_id": "CUST-H", "answered_at": AT,
        "favourite_category": "dining", "reward_preference": "rewards", "planning_travel": True,
    },
    Topic.consent: {
        "event_id": "c-h", "customer_id": "CUST-H", "changed_at": AT, "personalization": True,
        "llm_messaging": False, "analytics": True, "source": "app",
    },
    Topic.erasure: {"event_id": "x-h", "customer_id": "CUST-H", "requested_at": AT},
}  # fmt: skip
TIME = {
    Topic.transactions: "event_timestamp",
    Topic.clickstream: "event_timestamp",
    Topic.feedback: "occurred_at",
    Topic.quiz: "answered_at",
    Topic.consent: "changed_at",
    Topic.erasure: "requested_at",
}
NUMBER = {
    Topic.transactions: "amount",
    Topic.clickstream: "session_id",
    Topic.feedback: "position",
    Topic.quiz: "planning_travel",
    Topic.consent: "personalization",
    Topic.erasure: "customer_id",
}
ID = {Topic.transactions: "transaction_id", Topic.clickstream: "event_id"}  # int64 ids
FREE_TEXT = {
    Topic.transactions: "merchant_name",
    Topic.clickstream: "search_term",
    Topic.feedback: "request_id",
}


@dataclass(frozen=True)
class Case:
    topic: Topic
    name: str
    value: bytes | None
    reason: str | None  # a dead letter whose reason contains this; None: not dead-lettered
    customer: str = "CUST-H"


def _json(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields).encode()  # NaN and Infinity as JavaScript writes them


def hostile_cases(topic: Topic) -> list[Case]:
    valid, time, number = VALID[topic], TIME[topic], NUMBER[topic]

    def with_(**changes: Any) -> bytes:
        return _json({**valid, **changes})

    without_customer = {k: v for k, v in valid.items() if k != "customer_id"}
    nested = b"[" * 10_000 + b"]" * 10_000
    future = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    cases = [
        ("not JSON", b"{not json", "Invalid JSON"),
        ("a JSON list", b"[1, 2, 3]", "Input should be an object"),
        ("a JSON number", b"42", "Input should be an object"),
        ("JSON null", b"null", "Input should be an object"),
        ("a JSON string", b'"hello"', "Input should be an object"),
        ("an empty message", b"", "Invalid JSON: EOF"),
        ("an empty object", b"{}", "customer_id: Field required"),
        ("no customer_id", _json(without_customer), "customer_id: Field required"),
        ("customer_id a number", with_(customer_id=123), "customer_id: Input should be a valid string"),
        ("time a boolean", with_(**{time: True}), f"{time}: not an ISO 8601 date-time"),
        ("time not a date", with_(**{time: "yesterday"}), f"{time}: not an ISO 8601 date-time"),
        ("time in epoch seconds", with_(**{time: 1_780_000_000}), f"{time}: not an ISO 8601"),
        ("time as a digit string", with_(**{time: "0"}), f"{time}: not an ISO 8601 date-time"),
        ("time a date alone", with_(**{time: "2026-06-01"}), f"{time}: not an ISO 8601 date-time"),
        ("a 1 MB customer_id", with_(customer_id="A" * MB), "customer_id: String should have at most 64"),
        ("a 1 MB unknown field name", with_(**{"A" * MB: 1}), "Extra inputs are not permitted"),
        ("10,000 unknown fields", with_(**{f"f{i}": i for i in range(10_000)}), "and 9990 more problems"),
        ("deeply nested JSON", nested, "recursion limit exceeded"),
        ("deep nesting in a field", b'{"customer_id": ' + nested + b"}", "recursion limit exceeded"),
        ("NaN", with_(**{number: float("nan")}), f"{number}: "),
        ("Infinity", with_(**{number: float("inf")}), f"{number}: "),
        ("-Infinity", with_(**{number: float("-inf")}), f"{number}: "),
        ("a time far in the future", with_(**{time: "9999-12-31T23:59:59Z"}), "in the future"),
        ("a time a month ahead", with_(**{time: future}), "in the future"),
        ("a time far in the past", with_(**{time: "0001-01-01T00:00:00Z"}), "before 1970-01-01"),
        ("a time before 1970", with_(**{time: "1969-12-31T23:59:59Z"}), "before 1970-01-01"),
        ("invalid UTF-8", with_(customer_id="C-UTF8").replace(b"C-UTF8", b"C-\xff\xfe8"), "Invalid JSON"),
        ("a byte-order mark", b"\xef\xbb\xbf" + with_(), "Invalid JSON"),
        ("an unknown field", with_(is_admin=True), "is_admin: Extra inputs are not permitted"),
        ("schema version 2", with_(schema_version=2), "schema_version: Input should be 1"),
        ("SQL in customer_id", with_(customer_id="'; DROP TABLE customers; --"), "customer_id: String should match pattern"),
        ("HTML in customer_id", with_(customer_id="<script>alert(1)</script>"), "customer_id: String should match pattern"),
    ]  # fmt: skip
    if topic in (Topic.transactions, Topic.clickstream, Topic.feedback):
        cases += [
            ("a negative number", with_(**{number: -50}), f"{number}: Input should be greater"),
            ("an absurd number", with_(**{number: 10**30}), f"{number}: Input should be less"),
        ]
    if topic is Topic.transactions:
        cases += [
            ("amount 1e300", with_(amount=1e300), "amount: Input should be less than or equal"),
            ("amount a string", with_(amount="12.5"), "amount: Input should be a valid number"),
            ("currency EUR", with_(currency="EUR"), "currency: Input should be 'USD'"),
        ]
    if topic in ID:
        cases.append(("an id beyond int64", with_(**{ID[topic]: 2**64}), f"{ID[topic]}: "))
    if topic is Topic.feedback:
        cases.append(("a rating field on a click", with_(rating=5), "rating: only rating"))
    if topic is Topic.quiz:
        cases.append(("a path as time zone", with_(timezone="../../etc/passwd"), "timezone: "))
    if topic is Topic.consent:
        cases.append(("SQL in source", with_(source=INJECTION), "source: String should"))
    if topic not in COMPACTED:
        cases.append(("a tombstone", None, "empty message (tombstone)"))
    found = [Case(topic, name, value, reason) for name, value, reason in cases]
    if topic is Topic.transactions:  # a 100 kB key: the letter keeps its first kilobyte
        found.append(Case(topic, "a 100 kB key", b"{not json", "Invalid JSON", "K" * 100_000))
    # Valid by design: applied, not dead-lettered.
    nobody = f"NOBODY-{topic.name}"
    key = ID.get(topic, "event_id")
    other_id = 2 if topic in ID else f"{valid[key]}-2"  # not the free-text case's id
    unknown = with_(customer_id=nobody, **{key: other_id})
    found.append(Case(topic, "an unknown customer", unknown, None, nobody))
    if topic in FREE_TEXT:
        found.append(Case(topic, "SQL and HTML in free text", with_(**{FREE_TEXT[topic]: INJECTION}), None))  # fmt: skip
    if topic in COMPACTED:
        found.append(Case(topic, "a tombstone", None, None))
    return found


CASES = [case for topic in SUBSCRIBED for case in hostile_cases(topic)]

# Published after every hostile event: one valid event per topic, each with a visible effect.
OK = "CUST-OK"
SENTINELS: dict[Topic, dict[str, Any]] = {
    Topic.transactions: {**VALID[Topic.transactions], "transaction_id": 99, "customer_id": OK, "amount": 25.0},  # noqa: E501
    Topic.clickstream: {**VALID[Topic.clickstream], "event_id": 99, "customer_id": OK},
    Topic.feedback: {**VALID[Topic.feedback], "event_id": "fb-ok", "customer_id": OK},
    Topic.quiz: {**VALID[Topic.quiz], "event_id": "q-ok", "customer_id": OK},
    Topic.consent: {**VALID[Topic.consent], "event_id": "c-ok", "customer_id": OK, "personalization": False},  # noqa: E501
    Topic.erasure: {"event_id": "x-ok", "customer_id": "CUST-ERASED", "requested_at": AT},
}  # fmt: skip


def publish_cases(servers: str, cases: list[Case]) -> dict[tuple[str, int, int], Case]:
    """Publish every case (keyed by its customer) and wait for the acknowledgements; where each
    was written."""
    producer = Producer(producer_config(servers, **{"message.max.bytes": 4 * MB}))
    written: dict[tuple[str, int, int], Case] = {}
    failures: list[str] = []

    def delivered(case: Case) -> Callable[[KafkaError | None, Message], None]:
        def report(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failures.append(f"{case.topic.name} {case.name}: {error}")
            else:
                written[(message.topic(), message.partition(), message.offset())] = case

        return report

    for case in cases:
        producer.produce(
            case.topic.value, case.value, key=case.customer.encode(), on_delivery=delivered(case)
        )
        producer.poll(0)
    assert producer.flush(60) == 0
    assert failures == []
    return written


def run_to(processor: StreamProcessor, consumed: int, timeout: float = 180) -> Totals:
    """Run the processor in a thread until it has consumed ``consumed`` events; fails if it
    raises or does not get there."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            processor.run(lambda t: t.consumed >= consumed)
        except BaseException as error:  # noqa: BLE001 - asserted on below
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        processor.stop()
        thread.join(30)
    assert errors == [], f"the processor stopped on {errors!r}"
    assert processor.totals.consumed >= consumed, (
        f"consumed {processor.totals.consumed} of {consumed} in {timeout}s"
    )
    return processor.totals


@pytest.fixture
def processor(broker: str, feast_home: Path) -> Iterator[StreamProcessor]:
    settings = Settings(home=feast_home)
    feature_store = store.get_store(settings)
    interactions = Interactions(
        FeedbackTable(feast_home / "feedback"),
        QuizAnswerTable(feast_home / "quiz"),
        OnlineQuizWriter(feature_store),
        None,
        consent=ConsentTable(feast_home / "consent"),
        consent_online=OnlineConsentWriter(feature_store),
        privacy=PrivacyRecords.from_settings(settings),
    )
    yield StreamProcessor(
        broker,
        RecentSpendState(feast_home / "state.sqlite"),
        OnlineSpendWriter(feature_store),
        interactions,
        group="test-hostile",
        batch_wait=0.2,
    )
    interactions.close()


def test_hostile_events_on_every_topic_are_dead_lettered_with_reasons_and_the_stream_goes_on(
    broker: str, feast_home: Path, processor: StreamProcessor
) -> None:
    assert {c.topic for c in CASES} == set(SUBSCRIBED)
    written = publish_cases(broker, CASES)
    sentinels = [Case(t, "valid", _json(e), None, e["customer_id"]) for t, e in SENTINELS.items()]
    written |= publish_cases(broker, sentinels)

    totals = run_to(processor, len(CASES) + len(sentinels))

    letters = read_topic(broker, Topic.dead_letters, expected=totals.dead_letters, timeout=60)
    outcome: dict[tuple[Topic, str], tuple[str, Message]] = {}
    for letter in letters:
        headers = dict(letter.headers())
        where = (
            headers["dlq.topic"].decode(),
            int(headers["dlq.partition"]),
            int(headers["dlq.offset"]),
        )
        case = written[where]
        outcome[(case.topic, case.name)] = (headers["dlq.reason"].decode(), letter)
    wrong = []
    for case in CASES + sentinels:
        found = outcome.get((case.topic, case.name))
        if case.reason is None:
            if found is not None:
                wrong.append(f"{case.topic.name} {case.name}: dead-lettered ({found[0]})")
            continue
        if found is None:
            wrong.append(f"{case.topic.name} {case.name}: not dead-lettered")
            continue
        reason, letter = found
        if case.reason not in reason or len(reason) > 1_000:
            wrong.append(f"{case.topic.name} {case.name}: reason {reason[:200]!r}")
        headers = dict(letter.headers())
        if case.value is not None and len(case.value) > DEAD_LETTER_VALUE_BYTES:
            # Cut to what any broker takes, with the original length.
            assert int(headers["dlq.truncated"]) == len(case.value)
            assert letter.value() == case.value[:DEAD_LETTER_VALUE_BYTES]
        elif letter.value() != case.value:
            wrong.append(f"{case.topic.name} {case.name}: the letter is not the message")
        key = case.customer.encode()
        if len(key) > DEAD_LETTER_KEY_BYTES:
            assert int(headers["dlq.key_truncated"]) == len(key)
            assert letter.key() == key[:DEAD_LETTER_KEY_BYTES]
        elif letter.key() != key:
            wrong.append(f"{case.topic.name} {case.name}: the letter's key is not the message's")
    assert wrong == []
    dead = [c for c in CASES if c.reason is not None]
    assert totals.dead_letters == len(dead) == len(letters)

    # The stream went on: every valid event took effect.
    settings = Settings(home=feast_home)
    assert online_spend(settings, OK)["dining"] == pytest.approx(25.0)
    assert online_spend(settings, "NOBODY-transactions")["dining"] == pytest.approx(12.5)
    assert online_spend(settings, "CUST-H")["dining"] == pytest.approx(12.5)  # the free text
    interactions = processor.interactions
    feedback = interactions.feedback.read().to_pylist()
    assert {r["event_id"]: r["customer_id"] for r in feedback} == {
        "fb-h": "CUST-H",
        "fb-h-2": "NOBODY-feedback",
        "fb-ok": OK,
    }
    assert {r["request_id"] for r in feedback} == {INJECTION, "req-1"}  # stored as given
    quiz = interactions.quiz.read().to_pylist()
    assert sorted(r["customer_id"] for r in quiz) == [OK, "NOBODY-quiz"]
    consents = store.get_store(settings).get_online_features(
        [f"customer_consent:{c}" for c in CONSENT_COLUMNS.values()], [{"customer_id": OK}]
    )
    assert consents.to_dict()[CONSENT_COLUMNS[Purpose.personalization]] == [0]
    assert interactions.suppressed({"CUST-ERASED", "NOBODY-erasure", OK}) == {
        "CUST-ERASED",
        "NOBODY-erasure",
    }
    assert totals.clickstream == 3  # the unknown customer, the free text and the valid one
