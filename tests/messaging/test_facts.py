"""Facts: only named, relevant features are picked from a feature row."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from smartstack.datasets.synthetic.vocabulary import TREND_CAP
from smartstack.datasets.synthetic.vocabulary import VOCABULARY as SYNTHETIC
from smartstack.messaging.facts import CategoryActivity, Window, build_facts
from tests.messaging.conftest import COFFEE_DISCOUNT, COFFEE_REASONS, coffee_features


def test_only_named_features_are_read() -> None:
    row = coffee_features(full_name="Diego Novak", email="d@example.com", notes="anything")

    facts = build_facts(row, COFFEE_DISCOUNT, COFFEE_REASONS, "fv", SYNTHETIC)

    dumped = facts.model_dump_json()
    assert "Diego" not in dumped and "example.com" not in dumped and "anything" not in dumped


def test_the_offer_category_and_the_biggest_other_category_are_picked() -> None:
    facts = build_facts(coffee_features(), COFFEE_DISCOUNT, COFFEE_REASONS, "fv", SYNTHETIC)

    assert facts.offer_category.category == "coffee_shops"
    assert facts.offer_category.recent.spend == 42.6
    assert facts.offer_category.longer.txn_count == 12
    assert facts.offer_category.trend_label == "up"
    assert facts.offer_category.prior_average == pytest.approx(14.2)
    assert facts.top_category is not None and facts.top_category.category == "transit"
    assert facts.quiz_favourite_category == "transit" and facts.quiz_prefers_type is False
    assert facts.mentioned_categories() == {"coffee_shops", "transit"}


def test_no_top_category_when_it_is_the_offers_own() -> None:
    row = coffee_features(share_coffee_shops_90d=0.9)

    assert build_facts(row, COFFEE_DISCOUNT, [], "fv", SYNTHETIC).top_category is None


def test_reason_codes_keep_the_strongest_positive_citable_features() -> None:
    reasons = [
        ("share_coffee_shops_90d", 0.4),
        ("trend_coffee_shops", 0.9),
        ("offer_value_score", 2.0),  # not a customer feature an explanation may cite
        ("days_since_last_txn", -0.3),  # against the offer
        ("tenure_months", 0.1),
        ("points_redemption_share", 0.2),
    ]

    facts = build_facts(coffee_features(), COFFEE_DISCOUNT, reasons, "fv", SYNTHETIC)

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
    activity = CategoryActivity(
        category="coffee_shops",
        recent=Window(days=30, spend=42.6),
        longer=Window(days=90),
        trend=trend,
        trend_cap=TREND_CAP,
    )

    assert activity.trend_label == label
    assert activity.prior_average == prior


def test_nulls_from_parquet_become_none() -> None:
    row = coffee_features(
        trend_coffee_shops=math.nan, points_redemption_share=math.nan, days_since_last_txn=None
    )

    facts = build_facts(row, COFFEE_DISCOUNT, [], "fv", SYNTHETIC)

    assert facts.offer_category.trend is None
    assert facts.redeemed_type_share is None and facts.days_since_last_txn is None


def test_unknown_categories_and_card_products_are_refused_or_dropped() -> None:
    with pytest.raises(ValidationError, match="unknown merchant category"):
        casino = dict(COFFEE_DISCOUNT, merchant_category="casinos")
        build_facts(coffee_features(), casino, [], "v", SYNTHETIC)

    row = coffee_features(card_product="Diego's card")
    facts = build_facts(row, COFFEE_DISCOUNT, [], "v", SYNTHETIC)
    assert facts.card_product is None


def test_cold_start() -> None:
    row = {"customer_id": "C-new", "card_product": "Gold", "spend_90d": 0.0}

    facts = build_facts(row, COFFEE_DISCOUNT, [], "fv", SYNTHETIC)

    assert facts.is_cold_start and facts.offer_category.longer.spend == 0
    assert facts.top_category is None


def test_features_are_described_in_words() -> None:
    describe = SYNTHETIC.describe
    assert describe("spend_travel_30d") == "spend on travel in the last 30 days (USD)"
    assert (describe("trend_coffee_shops") or "").startswith("coffee shops: last 30 days")
    assert describe("full_name") is None
