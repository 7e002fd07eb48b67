"""Event contracts: what may travel on each topic, version 1.

Every event is JSON, keyed by ``customer_id`` (so one customer's events stay in order on one
partition) and validated against its contract on the way in: by ``POST /feedback`` before
publishing and by the stream processor before applying. An event that fails goes to the
dead-letter topic with the reason; nothing is dropped silently.

Versioning: the major version is part of the topic name (``….v1``) and of each event
(``schema_version``). A compatible change (a new optional field) keeps the version; an
incompatible one is a new model and a new topic, consumed side by side until producers move.
Models are strict (no coercion, no unknown fields), so a producer bug surfaces as a dead letter
naming the field instead of a silently different feature.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from smartstack.data.schema import (
    CLICKSTREAM_EVENTS,
    DEVICE_CATEGORIES,
    IMPRESSION_CHANNELS,
    MERCHANT_CATEGORIES,
    REWARD_PREFERENCES,
    TRANSACTION_CHANNELS,
)

_ZERO = timedelta(0)


class Topic(StrEnum):
    transactions = "smartstack.transactions.v1"
    clickstream = "smartstack.clickstream.v1"
    feedback = "smartstack.feedback.v1"
    quiz = "smartstack.quiz.v1"
    # Customer-keyed state: compacted (the newest consent per customer is what counts).
    consent = "smartstack.consent.v1"
    erasure = "smartstack.erasure.v1"
    dead_letters = "smartstack.dead-letters.v1"


def _utc(value: datetime) -> datetime:
    """Naive timestamps mean UTC; aware ones are converted to it (a zero offset is already UTC:
    converting it anyway costs more than the rest of parsing)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.utcoffset() == _ZERO else value.astimezone(UTC)


def _zone(name: str) -> str:
    """An IANA time zone this machine's tz database knows (``Europe/Berlin``)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError("unknown_time_zone", "not a known IANA time zone") from None
    return name


# When an event can have happened: not before the Unix epoch, and not later than a day past the
# validating machine's clock (clients' clocks drift). A transaction dated years ahead would
# otherwise become its customer's newest: every real one after it would fall outside the
# 7-day window (counted "too old", silently), and one at the end of year 9999 overflows it.
EARLIEST_EVENT_TIME = datetime(1970, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)


def _plausible(value: datetime) -> datetime:
    if value < EARLIEST_EVENT_TIME:
        raise PydanticCustomError(
            "implausible_time", "event time {time} is before 1970-01-01", {"time": value}
        )
    if value > datetime.now(UTC) + CLOCK_SKEW:
        raise PydanticCustomError(
            "implausible_time",
            "event time {time} is in the future (more than 1 day ahead of this clock)",
            {"time": value},
        )
    return value


# A date-time as RFC 3339 text (or a datetime, from Python): pydantic would also read a number,
# or a string of digits ("0", "1700000000"), as seconds since the epoch, which the published
# contract does not allow. The check leaves parsing to pydantic (lax only so that it may parse
# what passed the check; strict it would take no string after a validator).
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso(value: object) -> object:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise PydanticCustomError(
        "datetime_format", "not an ISO 8601 date-time (YYYY-MM-DDTHH:MM:SS, with an offset)"
    )


UtcDatetime = Annotated[
    datetime,
    Field(strict=False),
    BeforeValidator(_iso),
    AfterValidator(_utc),
    AfterValidator(_plausible),
]
# Ids as the raw tables hold them (int64).
Int64Id = Annotated[int, Field(ge=0, le=2**63 - 1)]
# One card transaction; far above any real one, and sums of such amounts stay finite.
MAX_AMOUNT = 1e9
TimeZone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_zone)]
CustomerId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
OfferId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _choice(name: str, values: tuple[str, ...]) -> Any:
    """One of ``values``, also given as a plain string from Python (strict mode would want the
    enum member there; from JSON strings are the only way). Anything else is refused."""
    return Annotated[StrEnum(name, {v: v for v in values}), Field(strict=False)]


MerchantCategory = _choice("MerchantCategory", MERCHANT_CATEGORIES)
TransactionChannel = _choice("TransactionChannel", TRANSACTION_CHANNELS)
ImpressionChannel = _choice("ImpressionChannel", IMPRESSION_CHANNELS)
ClickstreamEventName = _choice("ClickstreamEventName", CLICKSTREAM_EVENTS)
DeviceCategory = _choice("DeviceCategory", DEVICE_CATEGORIES)
RewardPreference = _choice("RewardPreference", REWARD_PREFERENCES)
EventId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    schema_version: Literal[1] = 1


class TransactionEvent(_Contract):
    """A card transaction, as the raw ``transactions`` table holds it."""

    transaction_id: Int64Id
    customer_id: CustomerId
    event_timestamp: UtcDatetime
    merchant_name: str = Field(min_length=1, max_length=200)
    merchant_category: MerchantCategory
    amount: float = Field(
        gt=0, le=MAX_AMOUNT, description="In `currency` units; refunds are not events yet."
    )
    # Spend features add amounts up, so one currency only until conversion exists.
    currency: Literal["USD"]
    channel: TransactionChannel

    @model_validator(mode="after")
    def _finite(self) -> Self:
        if not math.isfinite(self.amount):
            raise PydanticCustomError("finite_number", "amount: must be a finite number")
        return self


class ClickstreamEvent(_Contract):
    """A GA4-shaped app or web event, as the raw ``clickstream`` table holds it."""

    event_id: Int64Id
    customer_id: CustomerId
    session_id: Int64Id
    event_timestamp: UtcDatetime
    event_name: ClickstreamEventName
    page_location: str = Field(min_length=1, max_length=2048)
    offer_id: OfferId | None = None
    search_term: str | None = Field(None, max_length=200)
    device_category: DeviceCategory


class FeedbackKind(StrEnum):
    """What a customer did with an offer (the funnel), or their rating of its explanation."""

    impression = "impression"
    view = "view"
    click = "click"
    skip = "skip"
    redeem = "redeem"
    rating = "rating"


RATING_FIELDS = ("rating", "feature_version", "source", "template_id", "model")


class FeedbackEvent(_Contract):
    """One piece of feedback on one offer shown to one customer.

    ``event_id`` is chosen by the client and makes retries safe: the feedback table keeps one
    row per id. Funnel events (impression … redeem) carry the ``request_id`` that ``/rank``
    returned, which groups them into one impression for training; rating events carry what
    wrote the explanation they rate (quote the ``explanation`` fields of ``/rank``).
    """

    event_id: EventId
    kind: Annotated[FeedbackKind, Field(strict=False)]
    customer_id: CustomerId
    offer_id: OfferId
    occurred_at: UtcDatetime
    request_id: str | None = Field(None, min_length=1, max_length=64)
    channel: ImpressionChannel | None = None
    position: int | None = Field(None, ge=1, le=200)
    rating: int | None = Field(None, ge=1, le=5, description="1–5; rating events only.")
    feature_version: str | None = Field(None, min_length=1, max_length=128)
    source: Literal["llm", "template"] | None = Field(
        None, description="What wrote the rated text; rating events only."
    )
    template_id: str | None = Field(None, max_length=128)
    model: str | None = Field(None, max_length=128)
    timezone: TimeZone | None = Field(
        None, description="The customer's IANA time zone, where the client knows it (streaks)."
    )

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Self:
        if self.kind is FeedbackKind.rating:
            for name in ("rating", "feature_version", "source"):
                if getattr(self, name) is None:
                    raise PydanticCustomError(
                        "missing_for_kind", f"{name}: required when kind is 'rating'"
                    )
            return self
        if self.request_id is None:
            raise PydanticCustomError(
                "missing_for_kind",
                f"request_id: required when kind is '{self.kind}' (the id /rank returned)",
            )
        for name in RATING_FIELDS:
            if getattr(self, name) is not None:
                raise PydanticCustomError(
                    "not_for_kind", f"{name}: only rating events carry it, not '{self.kind}'"
                )
        return self


class QuizAnswerEvent(_Contract):
    """One customer's answers to the monthly quiz; the fields are the questions of
    ``engagement/quiz.yaml``. ``event_id`` is chosen by the client, as for feedback."""

    event_id: EventId
    customer_id: CustomerId
    answered_at: UtcDatetime
    favourite_category: MerchantCategory
    reward_preference: RewardPreference
    planning_travel: bool
    timezone: TimeZone | None = None


class ConsentEvent(_Contract):
    """A customer's consent, purpose by purpose (``smartstack.privacy.purposes.Purpose``), as
    it stands after a change: every purpose is stated, so the newest event is the whole answer.
    ``source`` names the system that recorded it (``app``, ``crm``); ``event_id`` is chosen by
    the client and makes retries safe, as for feedback."""

    event_id: EventId
    customer_id: CustomerId
    changed_at: UtcDatetime
    personalization: bool
    llm_messaging: bool
    analytics: bool
    source: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_.-]+$")


class ErasureEvent(_Contract):
    """A customer asked to be erased: the stream records the request and suppresses them at
    once; ``smartstack privacy erase`` does the erasing."""

    event_id: EventId
    customer_id: CustomerId
    requested_at: UtcDatetime


Event = (
    TransactionEvent
    | ClickstreamEvent
    | FeedbackEvent
    | QuizAnswerEvent
    | ConsentEvent
    | ErasureEvent
)
CONTRACTS: dict[Topic, type[_Contract]] = {
    Topic.transactions: TransactionEvent,
    Topic.clickstream: ClickstreamEvent,
    Topic.feedback: FeedbackEvent,
    Topic.quiz: QuizAnswerEvent,
    Topic.consent: ConsentEvent,
    Topic.erasure: ErasureEvent,
}
# Topics whose messages are a customer's current state, not a history: compacted, so a new
# consumer (or a restarted in-memory broker's successor) needs only each key's newest message,
# and an erasure's tombstone (the key with no value) removes every earlier one.
COMPACTED: frozenset[Topic] = frozenset({Topic.consent, Topic.erasure})


class ContractViolation(ValueError):
    """An event that does not meet its topic's contract; ``reason`` names the fields."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# A reason stays short whatever the payload: a hostile event can name a megabyte-long field or
# ten thousand unknown ones, and the reason travels in a Kafka header and an HTTP answer.
_PROBLEMS_SHOWN = 10
_NAME_CHARS = 64


def _short(part: object) -> str:
    text = str(part)
    return text if len(text) <= _NAME_CHARS else f"{text[:_NAME_CHARS]}…({len(text)} chars)"


def describe(error: ValidationError) -> str:
    """``field: message; …``, one entry per problem (the first ten, then how many more), for
    dead letters and HTTP errors."""
    problems = error.errors(include_url=False, include_input=False, include_context=False)
    parts = []
    for problem in problems[:_PROBLEMS_SHOWN]:
        where = ".".join(_short(p) for p in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    if len(problems) > _PROBLEMS_SHOWN:
        parts.append(f"and {len(problems) - _PROBLEMS_SHOWN} more problems")
    return "; ".join(parts)


_VALIDATORS = {topic.value: model.model_validate_json for topic, model in CONTRACTS.items()}


def parse(topic: str, payload: bytes | None) -> Event:
    """The event in ``payload`` under ``topic``'s contract, or :class:`ContractViolation`."""
    if payload is None:
        raise ContractViolation("empty message (tombstone)")
    try:
        return _VALIDATORS[topic](payload)  # type: ignore[return-value]
    except ValidationError as error:
        raise ContractViolation(describe(error)) from None


def serialize(event: _Contract) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()
