"""Facts: only named, relevant features are picked from a feature row."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from smartstack.messaging.facts import TREND_CAP, CategoryActivity, build_facts, describe_feature
from tests.messaging.conftest import COFFEE_DISCOUNT, COFFEE_REASONS, coffee_features


def test_only_named_features_are_read() -> None:
    row = coffee_features(full_name="Diego Novak", email="d@example.com", notes="anything")

    facts = build_facts(row, COFFEE_DISCOUNT, COFFEE_REASONS, "fv")

    dumped = facts.model_dump_json()
    assert "Diego" not in dumped and "example.com" not in dumped and "anything" not in dumped


def test_the_offer_category_and_the_biggest_other_category_are_picked() -> None:
    facts = build_facts(coffee_features(), COFFEE_DISCOUNT, COFFEE_REASONS, "fv")

    assert facts.offer_category.category == "coffee_shops"
    assert facts.offer_category.spend_30d == 42.6
    assert facts.offer_category.txn_count_90d == 12
    assert facts.offer_category.trend_label == "up"
    assert facts.offer_category.prior_monthly_avg == pytest.approx(14.2)
    assert facts.top_category is not None and facts.top_category.category == "transit"
    assert facts.quiz_favourite_category == "transit" and facts.quiz_prefers_rewards is False
    assert facts.mentioned_categories() == {"coffee_shops", "transit"}


def test_no_top_category_when_it_is_the_offers_own() -> None:
    row = coffee_features(share_coffee_shops_90d=0.9)

    assert build_facts(row, COFFEE_DISCOUNT, [], "fv").top_category is None


def test_reason_codes_keep_the_strongest_positive_citable_features() -> None:
    reasons = [
        ("share_coffee_shops_90d", 0.4),
        ("trend_coffee_shops", 0.9),
        ("offer_value_score", 2.0),  # not a customer feature an explanation may cite
        ("days_since_last_txn", -0.3),  # against the offer
        ("tenure_months", 0.1),
        ("points_redemption_share", 0.2),
    ]

    facts = build_facts(coffee_features(), COFFEE_DISCOUNT, reasons, "fv")

    assert [(r.feature, r.value) for r in facts.reason_codes] == [
        ("trend_coffee_shops", 3.0),
        ("share_coffee_shops_90d", 0.118),
        ("points_redemption_share", 0.25),
    ]


@pytest.mark.parametrize(
    ("trend", "label", "prior"),
    [
        (None, "none", None),
        (0.0, "stopped", None),
        (0.5, "down", 85.2),
        (1.0, "steady", 42.6),
        (2.0, "up", 21.3),
        (TREND_CAP, "surge", None),  # at the cap the ratio is a floor: no prior average
    ],
)
def test_trend_labels_and_prior_average(
    trend: float | None, label: str, prior: float | None
) -> None:
    activity = CategoryActivity(category="coffee_shops", spend_30d=42.6, trend=trend)

    assert activity.trend_label == label
    assert activity.prior_monthly_avg == prior


def test_nulls_from_parquet_become_none() -> None:
    row = coffee_features(
        trend_coffee_shops=math.nan, points_redemption_share=math.nan, days_since_last_txn=None
    )

    facts = build_facts(row, COFFEE_DISCOUNT, [], "fv")

    assert facts.offer_category.trend is None
    assert facts.points_redemption_share is None and facts.days_since_last_txn is None


def test_unknown_categories_and_card_products_are_refused_or_dropped() -> None:
    with pytest.raises(ValidationError, match="unknown merchant category"):
        build_facts(coffee_features(), dict(COFFEE_DISCOUNT, merchant_category="casinos"), [], "v")

    facts = build_facts(coffee_features(card_product="Diego's card"), COFFEE_DISCOUNT, [], "v")
    assert facts.card_product is None


def test_cold_start() -> None:
    row = {"customer_id": "C-new", "card_product": "Gold", "spend_90d": 0.0}

    facts = build_facts(row, COFFEE_DISCOUNT, [], "fv")

    assert facts.is_cold_start and facts.offer_category.spend_90d == 0
    assert facts.top_category is None


def test_features_are_described_in_words() -> None:
    assert describe_feature("spend_travel_30d") == "spend on travel in the last 30 days (USD)"
    assert describe_feature("trend_coffee_shops").startswith("coffee shops: last 30 days")
    assert describe_feature("full_name") is None
