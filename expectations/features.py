"""Feature-mart suites: what dbt must have produced before Feast materializes or a model trains.

Run by the feature gate after ``dbt build`` (``smartstack quality validate --stage features``) on
``<data_dir>/features/<model>.parquet``. Marts have one row per entity and as-of date
(``event_timestamp``); the newest as-of date is the snapshot rounded up to midnight, hence the
one-day ``lead`` on freshness. Marts may gain columns without breaking this gate; losing one
breaks it. Every expectation is blocking unless marked ``WARNING``.

``SUITES`` are the synthetic data set's marts; ``DATASET_SUITES`` those of another data set (by
the ``dataset`` setting): the Starbucks marts, daily as-of dates, and its labelled receipts.

Two checks need more than one column and are computed in ``PREPARE`` as derived columns:
``share_sum_<w>d`` (the category shares of a customer's wallet, which must sum to 1 when the
window has spend) and ``category_share_sum_<w>d`` (the same over the long affinity table).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from great_expectations.expectations import Expectation

from smartstack.data.schema import (
    AGE_BANDS,
    CARD_PRODUCTS,
    IMPRESSION_CHANNELS,
    MERCHANT_CATEGORIES,
    OFFER_TYPES,
    OUTCOMES,
    REGIONS,
    STARBUCKS_OFFER_TYPES,
)
from smartstack.quality.checks import (
    WARNING,
    between,
    columns,
    distribution,
    freshness,
    in_set,
    key,
    ordered,
    row_count,
)
from smartstack.quality.suites import Derived, SuiteInputs

ROW_COUNT_TOLERANCE = 0.5
DISTRIBUTION_TOLERANCE = 0.25
# The newest as-of date must be the snapshot's day: an older one means dbt did not rebuild.
MAX_AGE = timedelta(days=2)
AS_OF_LEAD = timedelta(days=1)
SPEND_WINDOWS: tuple[int, ...] = (7, 30, 90)
AFFINITY_SHARE_WINDOWS: tuple[int, ...] = (30, 90)  # the affinity mart's share windows
SHARE_SUM_TOLERANCE = 1e-6
PROFILED: dict[str, tuple[str, ...]] = {
    "customer_spend_features": (
        "spend_90d", "txn_count_90d", "avg_ticket_90d", "days_since_last_txn",
    ),
    "customer_profile_features": ("tenure_months", "offer_click_rate_90d"),
    "offer_features": ("click_rate_smoothed", "redemption_rate_smoothed"),
    "training_impressions": ("relevance",),
    "starbucks_customer_activity": ("spend_all", "avg_ticket"),
    "starbucks_customer_offer_history": ("offers_received", "view_rate"),
    "starbucks_offer_receipts": ("redeemed", "completed"),
}
FLAGS = (0, 1)


def _common(inputs: SuiteInputs) -> list[Expectation]:
    return [
        *row_count(inputs, ROW_COUNT_TOLERANCE),
        *distribution(inputs, PROFILED.get(inputs.table, ()), DISTRIBUTION_TOLERANCE),
        *freshness(
            inputs, "event_timestamp", MAX_AGE, since=inputs.window.impression_start,
            lead=AS_OF_LEAD,
        ),
    ]


def _window_columns(prefix: str) -> list[str]:
    return [f"{prefix}_{c}_{w}d" for c in MERCHANT_CATEGORIES for w in SPEND_WINDOWS]


def customer_spend_features(inputs: SuiteInputs) -> list[Expectation]:
    spends, counts, shares = (_window_columns(p) for p in ("spend", "txn_count", "share"))
    trends = [f"trend_{c}" for c in MERCHANT_CATEGORIES]
    totals = [f"{p}_{w}d" for p in ("spend", "txn_count") for w in SPEND_WINDOWS]
    return [
        *columns(
            strings=["customer_id"],
            timestamps=["event_timestamp"],
            numbers=[*spends, *counts, *shares, *trends, *totals, "days_since_last_txn",
                     "avg_ticket_90d"],
        ),
        *key("customer_id", "event_timestamp"),
        *_common(inputs),
        *(between(name, 0, None) for name in [*spends, *counts, *totals, *trends]),
        *(between(name, 0, 1) for name in shares),
        *(
            between(f"share_sum_{w}d", 1 - SHARE_SUM_TOLERANCE, 1 + SHARE_SUM_TOLERANCE)
            for w in SPEND_WINDOWS
        ),
        between("days_since_last_txn", 0, None),
        between("avg_ticket_90d", 0, None, strict_min=True),
    ]


def customer_profile_features(inputs: SuiteInputs) -> list[Expectation]:
    rates = ["points_redemption_share", "points_click_share", "offer_click_rate_90d"]
    return [
        *columns(
            strings=["customer_id", "card_product", "age_band", "region"],
            timestamps=["event_timestamp"],
            numbers=["tenure_months", "is_new_customer", "has_quiz", *rates],
        ),
        *key("customer_id", "event_timestamp"),
        *_common(inputs),
        in_set("card_product", CARD_PRODUCTS),
        in_set("age_band", AGE_BANDS),
        in_set("region", REGIONS),
        in_set("quiz_favourite_category", MERCHANT_CATEGORIES),
        between("tenure_months", 0, 600),
        in_set("is_new_customer", FLAGS),
        in_set("has_quiz", FLAGS),
        *(between(name, 0, 1) for name in rates),
    ]


def offer_features(inputs: SuiteInputs) -> list[Expectation]:
    rates = [f"{o}_rate{s}" for o in ("view", "click", "redemption") for s in ("", "_smoothed")]
    counts = ["impressions_count", "views_count", "clicks_count", "redemptions_count"]
    return [
        *columns(
            strings=["offer_id", "merchant_category", "offer_type"],
            timestamps=["event_timestamp"],
            numbers=[*rates, *counts, "value_score", "is_valid"],
        ),
        *key("offer_id", "event_timestamp"),
        *_common(inputs),
        in_set("merchant_category", MERCHANT_CATEGORIES),
        in_set("offer_type", OFFER_TYPES),
        in_set("is_valid", FLAGS),
        between("value_score", 0, 1),
        *(between(name, 0, 1) for name in rates),
        *(between(name, 0, None) for name in counts),
        ordered("impressions_count", "views_count"),
        ordered("views_count", "clicks_count"),
        ordered("clicks_count", "redemptions_count", severity=WARNING),
    ]


def customer_category_affinity(inputs: SuiteInputs) -> list[Expectation]:
    shares = ["share_30d", "share_90d"]
    return [
        *columns(
            strings=["customer_id", "merchant_category"],
            timestamps=["event_timestamp"],
            numbers=["spend_30d", "spend_90d", "txn_count_90d", *shares, "trend"],
        ),
        *key("customer_id", "merchant_category", "event_timestamp"),
        *_common(inputs),
        in_set("merchant_category", MERCHANT_CATEGORIES),
        *(between(name, 0, None) for name in ("spend_30d", "spend_90d", "txn_count_90d")),
        *(between(name, 0, 1) for name in shares),
        *(
            between(f"category_share_sum_{w}d", 1 - SHARE_SUM_TOLERANCE, 1 + SHARE_SUM_TOLERANCE)
            for w in AFFINITY_SHARE_WINDOWS
        ),
    ]


def customer_recent_spend(inputs: SuiteInputs) -> list[Expectation]:
    recent = [f"recent_spend_{c}" for c in MERCHANT_CATEGORIES]
    return [
        *columns(strings=["customer_id"], timestamps=["event_timestamp"], numbers=recent),
        *key("customer_id", "event_timestamp"),
        *_common(inputs),
        *(between(name, 0, None) for name in recent),
    ]


def training_impressions(inputs: SuiteInputs) -> list[Expectation]:
    labels = ["viewed", "clicked", "redeemed"]
    return [
        *columns(
            strings=[
                "customer_id", "offer_id", "outcome", "merchant_category", "offer_type", "channel",
            ],
            timestamps=["event_timestamp"],
            numbers=["impression_id", "request_id", "position", "relevance", *labels],
        ),
        *key("impression_id"),
        *_common(inputs),
        in_set("outcome", OUTCOMES),
        in_set("channel", IMPRESSION_CHANNELS),
        in_set("merchant_category", MERCHANT_CATEGORIES),
        *(in_set(name, FLAGS) for name in labels),
        in_set("relevance", (0, 1, 2, 3)),
        ordered("viewed", "clicked"),
        ordered("clicked", "redeemed"),
    ]


SUITES = {
    "customer_spend_features": customer_spend_features,
    "customer_profile_features": customer_profile_features,
    "offer_features": offer_features,
    "customer_category_affinity": customer_category_affinity,
    "customer_recent_spend": customer_recent_spend,
    "training_impressions": training_impressions,
}


# -- the Starbucks data set (dbt models/marts/starbucks) --------------------------------------
# The labelled receipts are keyed by send time, and the last send is 138 hours before the end.
STARBUCKS_SEND_MAX_AGE = timedelta(days=7)


def starbucks_customer_demographics(inputs: SuiteInputs) -> list[Expectation]:
    flags = ["gender_female", "gender_male", "gender_other", "profile_incomplete"]
    return [
        *columns(
            strings=["customer_id"],
            timestamps=["event_timestamp"],
            numbers=["age", "income", *flags, "membership_days", "member_since_year"],
        ),
        *key("customer_id", "event_timestamp"),
        *_common(inputs),
        between("age", 18, 110),
        between("income", 0, None, strict_min=True),
        *(in_set(name, FLAGS) for name in flags),
    ]


def starbucks_customer_activity(inputs: SuiteInputs) -> list[Expectation]:
    windows = (3, 7, 14, 30)
    counts = ["txn_count_all", *(f"txn_count_{w}d" for w in windows), "active_days"]
    spends = ["spend_all", *(f"spend_{w}d" for w in windows)]
    tickets = ["avg_ticket", "ticket_median", "ticket_p75", "ticket_max"]
    return [
        *columns(
            strings=["customer_id"],
            timestamps=["event_timestamp"],
            numbers=["history_days", *counts, *spends, *tickets, "hours_since_last_txn"],
        ),
        *key("customer_id", "event_timestamp"),
        *_common(inputs),
        *(between(name, 0, None) for name in [*counts, *spends, "history_days"]),
        *(between(name, 0, None, strict_min=True) for name in tickets),
        between("hours_since_last_txn", 1, None),
        ordered("ticket_max", "ticket_p75"),
        ordered("ticket_p75", "ticket_median"),
        ordered("txn_count_all", "txn_count_30d"),
    ]


def starbucks_customer_offer_history(inputs: SuiteInputs) -> list[Expectation]:
    steps = ["received", "viewed", "completed", "succeeded"]
    counts = [f"offers_{step}" for step in [*steps, "completed_unviewed"]] + [
        f"{step}_{offer_type}" for offer_type in STARBUCKS_OFFER_TYPES for step in steps
    ]
    rates = ["view_rate", "social_view_rate", "completion_rate", "success_rate",
             "bogo_success_share"]
    return [
        *columns(
            strings=["customer_id"],
            timestamps=["event_timestamp"],
            numbers=[*counts, "open_offers", *rates],
        ),
        *key("customer_id", "event_timestamp"),
        *_common(inputs),
        *(between(name, 0, None) for name in [*counts, "open_offers"]),
        *(between(name, 0, 1) for name in rates),
        ordered("offers_received", "offers_viewed"),
        ordered("offers_completed", "offers_succeeded"),
        ordered("offers_viewed", "offers_succeeded"),
        in_set("completed_informational", (0,)),
    ]


def starbucks_offer_features(inputs: SuiteInputs) -> list[Expectation]:
    rates = [f"{rate}_rate_smoothed" for rate in ("view", "completion", "success")]
    return [
        *columns(
            strings=["offer_id", "offer_type"],
            timestamps=["event_timestamp"],
            numbers=["min_spend", "reward", "duration_days", "value_score", "received_count",
                     *rates],
        ),
        *key("offer_id", "event_timestamp"),
        *_common(inputs),
        in_set("offer_type", STARBUCKS_OFFER_TYPES),
        between("value_score", 0, 1),
        *(between(name, 0, 1) for name in rates),
        between("received_count", 0, None),
    ]


def starbucks_offer_receipts(inputs: SuiteInputs) -> list[Expectation]:
    flags = ["viewed", "redeemed", "completed", "completable", "censored"]
    return [
        *columns(
            strings=["customer_id", "offer_id", "offer_type", "outcome", "profile"],
            timestamps=["event_timestamp"],
            numbers=["impression_id", "request_id", "send_hour", "relevance", *flags],
        ),
        *key("impression_id"),
        *row_count(inputs, ROW_COUNT_TOLERANCE),
        *distribution(inputs, PROFILED.get(inputs.table, ()), DISTRIBUTION_TOLERANCE),
        *freshness(
            inputs, "event_timestamp", STARBUCKS_SEND_MAX_AGE,
            since=inputs.window.impression_start,
        ),
        in_set("outcome", ("shown", "viewed", "redeemed")),
        in_set("offer_type", STARBUCKS_OFFER_TYPES),
        *(in_set(name, FLAGS) for name in flags),
        in_set("relevance", (0, 1, 3)),
        # Label A implies a view and a completion; B only on offers that can be completed.
        ordered("viewed", "redeemed"),
        ordered("completed", "redeemed"),
        ordered("completable", "completed"),
    ]


DATASET_SUITES = {
    "starbucks": {
        "starbucks_customer_demographics": starbucks_customer_demographics,
        "starbucks_customer_activity": starbucks_customer_activity,
        "starbucks_customer_offer_history": starbucks_customer_offer_history,
        "starbucks_offer_features": starbucks_offer_features,
        "starbucks_offer_receipts": starbucks_offer_receipts,
    },
}


def _wallet_share_sums(frame: pd.DataFrame) -> pd.DataFrame:
    """``share_sum_<w>d``: sum of the category shares where the window has spend, else null."""
    for w in SPEND_WINDOWS:
        shares = [c for c in (f"share_{cat}_{w}d" for cat in MERCHANT_CATEGORIES) if c in frame]
        total = frame.get(f"spend_{w}d")
        if not shares or total is None:
            continue
        frame[f"share_sum_{w}d"] = frame[shares].sum(axis=1).where(total > 0)
    return frame


def _category_share_sums(frame: pd.DataFrame) -> pd.DataFrame:
    """``category_share_sum_<w>d``: per customer and as-of date, over categories (when spent).

    Summed by one ``bincount`` over a code per (customer, date): at 1,000,000 customers the
    mart is 100 million rows, where pandas' groupby-transform on the two keys held about three
    times the columns it read (``docs/benchmarks.md``, "One million customers")."""
    if "customer_id" not in frame or "event_timestamp" not in frame:
        return frame
    group = _group_codes(frame["customer_id"], frame["event_timestamp"])
    for w in AFFINITY_SHARE_WINDOWS:
        share, spend = f"share_{w}d", f"spend_{w}d"
        if share not in frame or spend not in frame:
            continue
        summed, spent = _group_totals(group, frame[share]), _group_totals(group, frame[spend])
        frame[f"category_share_sum_{w}d"] = pd.Series(
            np.where(spent > 0, summed, np.nan), index=frame.index
        )
    return frame


def _group_codes(*keys: pd.Series) -> np.ndarray:
    """A code per row for its combination of ``keys`` (0 to fewer than the rows), -1 where a
    key is null."""
    codes = np.zeros(len(keys[0]), dtype=np.int64)
    null = np.zeros(len(codes), dtype=bool)
    combinations = 1
    for column in keys:
        key_codes, uniques = pd.factorize(column)
        codes = codes * len(uniques) + key_codes
        combinations *= len(uniques)
        null |= key_codes < 0
    if combinations > len(codes):
        codes = pd.factorize(codes)[0]
    codes[null] = -1
    return codes


def _group_totals(group: np.ndarray, values: pd.Series) -> np.ndarray:
    """Each row's total of ``values`` over its group, nulls counted as 0 (as pandas sums);
    NaN where the row has no group."""
    keyed = group >= 0
    weights = np.where(keyed, values.to_numpy(dtype=np.float64, na_value=0.0), 0.0)
    totals = np.bincount(np.where(keyed, group, 0), weights=weights)
    return np.where(keyed, totals[group], np.nan)


PREPARE = {
    "customer_spend_features": Derived(
        _wallet_share_sums,
        reads=tuple(
            name for w in SPEND_WINDOWS
            for name in (f"spend_{w}d", *(f"share_{c}_{w}d" for c in MERCHANT_CATEGORIES))
        ),
        writes=tuple(f"share_sum_{w}d" for w in SPEND_WINDOWS),
    ),
    "customer_category_affinity": Derived(
        _category_share_sums,
        reads=(
            "customer_id", "event_timestamp",
            *(f"{kind}_{w}d" for w in AFFINITY_SHARE_WINDOWS for kind in ("share", "spend")),
        ),
        writes=tuple(f"category_share_sum_{w}d" for w in AFFINITY_SHARE_WINDOWS),
    ),
}
