"""Raw-input suites: the contract every table must meet before dbt reads it.

Run by the raw gate after generation or ingestion (``smartstack quality validate --stage raw``).
Schemas and categories come from ``smartstack.data.schema`` so the generator, dbt sources and these
suites share one definition. Every expectation is blocking unless marked ``WARNING``. Freshness
is measured from the data set's snapshot (``manifest.json``), or from now when there is none.

``SUITES`` hold the synthetic data set's contract; another data set that lands in the same raw
tables (``DATASET_SUITES``, by the ``dataset`` setting) has its own rules for the tables it
provides: the Starbucks adapter leaves card products and regions null, has offers whose windows
start at each receipt, and informational offers with no reward.
"""

from __future__ import annotations

from datetime import timedelta

from great_expectations.expectations import Expectation

from smartstack.data.schema import (
    AGE_BANDS,
    CARD_PRODUCTS,
    CLICKSTREAM_EVENTS,
    DEVICE_CATEGORIES,
    GENDERS,
    IMPRESSION_CHANNELS,
    MERCHANT_CATEGORIES,
    OFFER_TYPES,
    OUTCOMES,
    RAW_SCHEMAS,
    REGIONS,
    REWARD_PREFERENCES,
    STARBUCKS_CHANNELS,
    STARBUCKS_OFFER_TYPES,
    TRANSACTION_CHANNELS,
)
from smartstack.quality.checks import (
    WARNING,
    arrow_schema,
    between,
    distribution,
    freshness,
    in_set,
    key,
    not_null,
    ordered,
    pattern,
    row_count,
)
from smartstack.quality.suites import SuiteInputs

# Row counts may move this much (as a fraction) from the last good run before a warning.
ROW_COUNT_TOLERANCE = 0.5
# Mean and quantiles may move this much (relative) from the reference profile.
DISTRIBUTION_TOLERANCE = 0.25
# Key numeric columns compared with the reference profile.
PROFILED: dict[str, tuple[str, ...]] = {
    "transactions": ("amount",),
    "customers": ("tenure_months",),
    "offers": ("value",),
}
# Event streams are continuous: a day without new events means the feed stopped.
EVENT_MAX_AGE = timedelta(days=2)
# Quiz answers are sparse: a week without one is worth a warning, not a stop.
QUIZ_MAX_AGE = timedelta(days=7)
CARD_LIST = "^(?:{0})(?:,(?:{0}))*$".format("|".join(CARD_PRODUCTS))


def _common(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *arrow_schema(RAW_SCHEMAS[inputs.table]),
        *row_count(inputs, ROW_COUNT_TOLERANCE),
        *distribution(inputs, PROFILED.get(inputs.table, ()), DISTRIBUTION_TOLERANCE),
    ]


def customers(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *_common(inputs),
        *key("customer_id"),
        *not_null("card_product", "signup_date", "tenure_months"),
        in_set("card_product", CARD_PRODUCTS),
        in_set("age_band", AGE_BANDS),
        in_set("region", REGIONS),
        between("tenure_months", 0, 600),
    ]


def customer_pii(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *_common(inputs),
        *key("customer_id"),
        pattern("email", r"^[^@\s]+@[^@\s]+\.[^@\s]+$", severity=WARNING),
        pattern("card_number", r"^\d{15,16}$", severity=WARNING),
    ]


def transactions(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *_common(inputs),
        *key("transaction_id"),
        *not_null("customer_id", "event_timestamp", "merchant_category", "amount"),
        between("amount", 0, None, strict_min=True),
        in_set("merchant_category", MERCHANT_CATEGORIES),
        in_set("channel", TRANSACTION_CHANNELS),
        in_set("currency", ("USD",)),
        *freshness(inputs, "event_timestamp", EVENT_MAX_AGE, since=inputs.window.start),
    ]


def offers(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *_common(inputs),
        *key("offer_id"),
        *not_null("merchant_category", "offer_type", "value", "valid_from", "valid_to"),
        in_set("merchant_category", MERCHANT_CATEGORIES),
        in_set("offer_type", OFFER_TYPES),
        between("value", 0, None, strict_min=True),
        between("min_spend", 0, None),
        ordered("valid_to", "valid_from"),
        pattern("eligible_card_products", CARD_LIST),
    ]


def impressions(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *_common(inputs),
        *key("impression_id"),
        *not_null("request_id", "customer_id", "offer_id", "shown_at", "outcome"),
        in_set("channel", IMPRESSION_CHANNELS),
        in_set("outcome", OUTCOMES),
        between("position", 1, None),
        ordered("viewed_at", "shown_at"),
        ordered("clicked_at", "viewed_at"),
        ordered("redeemed_at", "shown_at"),
        *freshness(inputs, "shown_at", EVENT_MAX_AGE, since=inputs.window.impression_start),
    ]


def clickstream(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *_common(inputs),
        *key("event_id"),
        *not_null("customer_id", "session_id", "event_timestamp", "event_name"),
        in_set("event_name", CLICKSTREAM_EVENTS),
        in_set("device_category", DEVICE_CATEGORIES),
        *freshness(inputs, "event_timestamp", EVENT_MAX_AGE, since=inputs.window.start),
    ]


def quiz_responses(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *_common(inputs),
        *key("response_id"),
        *not_null("customer_id", "answered_at"),
        in_set("favourite_category", MERCHANT_CATEGORIES),
        in_set("reward_preference", REWARD_PREFERENCES),
        *freshness(
            inputs, "answered_at", QUIZ_MAX_AGE, since=inputs.window.start, severity=WARNING
        ),
    ]


SUITES = {
    "customers": customers,
    "customer_pii": customer_pii,
    "transactions": transactions,
    "offers": offers,
    "impressions": impressions,
    "clickstream": clickstream,
    "quiz_responses": quiz_responses,
}


# -- the Starbucks rewards-offer data set (smartstack.datasets.starbucks.reader) ---------------------------
# Offers go out every few days (the last send is 138 hours before the data end).
STARBUCKS_SEND_MAX_AGE = timedelta(days=7)
CHANNEL_LIST = "^(?:{0})(?:,(?:{0}))*$".format("|".join(STARBUCKS_CHANNELS))


def starbucks_customers(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *_common(inputs),
        *key("customer_id"),
        *not_null("signup_date", "tenure_months"),
        in_set("gender", GENDERS),
        in_set("age_band", AGE_BANDS),
        between("age", 18, 110),
        between("income", 0, None, strict_min=True),
        between("tenure_months", 0, 600),
    ]


def starbucks_offers(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *_common(inputs),
        *key("offer_id"),
        *not_null(
            "merchant_category", "offer_type", "value", "min_spend", "duration_days", "channels",
            "valid_from",
        ),
        in_set("merchant_category", MERCHANT_CATEGORIES),
        in_set("offer_type", STARBUCKS_OFFER_TYPES),
        between("value", 0, None),
        between("min_spend", 0, None),
        between("duration_days", 1, 30),
        pattern("channels", CHANNEL_LIST),
    ]


def starbucks_impressions(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *_common(inputs),
        *key("impression_id"),
        *not_null("request_id", "customer_id", "offer_id", "shown_at", "expires_at", "outcome"),
        in_set("outcome", ("shown", "viewed", "redeemed")),
        ordered("viewed_at", "shown_at"),
        ordered("completed_at", "shown_at"),
        ordered("expires_at", "viewed_at"),
        ordered("expires_at", "completed_at"),
        # A success is a completion after a view, at the completion's time.
        ordered("redeemed_at", "viewed_at"),
        ordered("redeemed_at", "completed_at"),
        ordered("completed_at", "redeemed_at"),
        *freshness(
            inputs, "shown_at", STARBUCKS_SEND_MAX_AGE, since=inputs.window.impression_start
        ),
    ]


def starbucks_transactions(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *_common(inputs),
        *key("transaction_id"),
        *not_null("customer_id", "event_timestamp", "merchant_category", "amount"),
        between("amount", 0, None, strict_min=True),
        in_set("merchant_category", MERCHANT_CATEGORIES),
        in_set("currency", ("USD",)),
        *freshness(inputs, "event_timestamp", EVENT_MAX_AGE, since=inputs.window.start),
    ]


DATASET_SUITES = {
    "starbucks": {
        "customers": starbucks_customers,
        "offers": starbucks_offers,
        "impressions": starbucks_impressions,
        "transactions": starbucks_transactions,
    },
}
