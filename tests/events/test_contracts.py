"""Event contracts: what each topic accepts, and that a refusal names the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from smartstack.events.contracts import ContractViolation, Topic, parse

TRANSACTION = {
    "transaction_id": 7,
    "customer_id": "CUST-0000001",
    "event_timestamp": "2026-06-30T09:15:00Z",
    "merchant_name": "SkyWays",
    "merchant_category": "travel",
    "amount": 412.5,
    "currency": "USD",
    "channel": "online",
}
CLICK = {
    "event_id": "evt-1",
    "kind": "click",
    "customer_id": "CUST-0000001",
    "offer_id": "OFR-003",
    "occurred_at": "2026-06-30T09:20:00+02:00",
    "request_id": "4f2a",
}
RATING = {
    "event_id": "evt-2",
    "kind": "rating",
    "customer_id": "CUST-0000001",
    "offer_id": "OFR-003",
    "occurred_at": "2026-06-30T09:21:00",
    "rating": 4,
    "feature_version": "2026-06-30",
    "source": "template",
    "template_id": "trend_up/1",
}


def encode(payload: dict) -> bytes:
    return json.dumps(payload).encode()


def test_valid_events_parse_with_times_in_utc() -> None:
    transaction = parse(Topic.transactions, encode(TRANSACTION))
    assert transaction.amount == 412.5 and transaction.merchant_category == "travel"
    click = parse(Topic.feedback, encode(CLICK))
    assert click.occurred_at.utcoffset().total_seconds() == 0
    assert click.occurred_at.hour == 7  # 09:20 at +02:00
    rating = parse(Topic.feedback, encode(RATING))
    assert rating.occurred_at.hour == 9 and rating.rating == 4  # naive means UTC


@pytest.mark.parametrize(
    ("topic", "payload", "named"),
    [
        (Topic.transactions, {**TRANSACTION, "amount": -3}, "amount"),
        (Topic.transactions, {**TRANSACTION, "amount": "12.5"}, "amount"),
        (Topic.transactions, {**TRANSACTION, "merchant_category": "space"}, "merchant_category"),
        (Topic.transactions, {**TRANSACTION, "currency": "EUR"}, "currency"),
        (
            Topic.transactions,
            {k: v for k, v in TRANSACTION.items() if k != "customer_id"},
            "customer_id",
        ),
        (Topic.transactions, {**TRANSACTION, "coupon": "X"}, "coupon"),
        (Topic.transactions, {**TRANSACTION, "schema_version": 2}, "schema_version"),
        (Topic.clickstream, {"event_id": 1, "customer_id": "C1"}, "session_id"),
        (Topic.feedback, {**CLICK, "kind": "like"}, "kind"),
        (Topic.feedback, {k: v for k, v in CLICK.items() if k != "request_id"}, "request_id"),
        (Topic.feedback, {**CLICK, "rating": 5}, "rating"),
        (Topic.feedback, {**RATING, "rating": 6}, "rating"),
        (Topic.feedback, {k: v for k, v in RATING.items() if k != "source"}, "source"),
        (Topic.feedback, {**RATING, "source": "human"}, "source"),
        (Topic.feedback, {**CLICK, "occurred_at": "yesterday"}, "occurred_at"),
    ],
)
def test_a_broken_event_is_refused_naming_the_field(
    topic: Topic, payload: dict, named: str
) -> None:
    with pytest.raises(ContractViolation) as refused:
        parse(topic, encode(payload))
    assert refused.value.reason.startswith(f"{named}:") or f"; {named}:" in refused.value.reason


@pytest.mark.parametrize("payload", [b"not json", b"", None, b"[1, 2]"])
def test_unreadable_messages_are_refused(payload: bytes | None) -> None:
    with pytest.raises(ContractViolation):
        parse(Topic.transactions, payload)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_timestamp": "9999-12-31T23:59:59Z"}, "event_timestamp: event time 9999-12-31"),
        ({"event_timestamp": "1969-12-31T23:59:59Z"}, "is before 1970-01-01"),
        ({"amount": 1e300}, "amount: Input should be less than or equal to 1000000000"),
        ({"transaction_id": 2**63}, "transaction_id: Input should be less than or equal"),
    ],
)
def test_implausible_times_amounts_and_ids_are_refused(change: dict, reason: str) -> None:
    with pytest.raises(ContractViolation, match=reason):
        parse(Topic.transactions.value, json.dumps({**TRANSACTION, **change}).encode())


def test_a_time_within_a_day_of_the_clock_and_the_largest_amount_are_accepted() -> None:
    soon = (datetime.now(UTC) + timedelta(hours=12)).isoformat()
    event = {**TRANSACTION, "event_timestamp": soon, "amount": 1e9, "transaction_id": 2**63 - 1}
    assert parse(Topic.transactions.value, json.dumps(event).encode()).amount == 1e9


def test_a_reason_stays_short_however_many_or_long_the_unknown_fields() -> None:
    many = {**TRANSACTION, **{f"f{i}": i for i in range(5_000)}, "x" * 100_000: 1}
    with pytest.raises(ContractViolation) as refused:
        parse(Topic.transactions.value, json.dumps(many).encode())
    reason = refused.value.reason
    assert len(reason) < 1_000
    assert reason.startswith("f0: Extra inputs are not permitted")
    assert reason.endswith("and 4991 more problems")
