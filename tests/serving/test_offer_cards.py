"""What `/rank` tells an app about each offer and reason, in the data set's own words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smartstack.datasets.starbucks.vocabulary import VOCABULARY as STARBUCKS
from smartstack.datasets.synthetic.vocabulary import VOCABULARY as SYNTHETIC
from smartstack.serving.catalog import Offer, OfferCatalog
from smartstack.serving.reasons import PLATFORM_LABELS, ReasonLabels

END = datetime(2026, 6, 30, tzinfo=UTC)


def _offer(offer_type: str, value: float | None, min_spend: float = 0.0) -> Offer:
    return Offer(
        "OFR-1",
        "coffee_shops",
        datetime(2026, 5, 1, tzinfo=UTC),
        END,
        None,
        0.1,
        terms={
            "headline": "An offer",
            "offer_type": offer_type,
            "value": value,
            "min_spend": min_spend,
        },
    )


@pytest.mark.parametrize(
    ("offer_type", "value", "stated", "noun"),
    [
        ("points", 3.0, "3x points", "points offer"),
        ("discount", 15.0, "15% off", "discount"),
        ("cashback", 18.0, "$18", "cashback offer"),
        ("cashback", 2.5, "$2.50", "cashback offer"),
    ],
)
def test_the_value_is_stated_as_the_offer_type_states_it(
    offer_type: str, value: float, stated: str, noun: str
) -> None:
    card = OfferCatalog([_offer(offer_type, value, 25.0)], vocabulary=SYNTHETIC).cards["OFR-1"]
    assert (card.value, card.offer_type, card.category) == (stated, noun, "coffee shops")
    assert card.headline == "An offer" and card.min_spend == 25.0 and card.valid_to == END


def test_an_offer_without_a_reward_states_no_value() -> None:
    card = OfferCatalog([_offer("informational", 0.0)], vocabulary=STARBUCKS).cards["OFR-1"]
    assert card.value is None and card.offer_type == "announcement" and card.min_spend is None


def test_without_a_vocabulary_the_catalogue_names_stand() -> None:
    card = OfferCatalog([_offer("points", 3.0)]).cards["OFR-1"]
    assert (card.category, card.offer_type, card.value) == ("coffee_shops", "points", None)


def test_reason_labels_prefer_the_data_sets_words_then_the_platforms() -> None:
    labels = ReasonLabels(SYNTHETIC)
    assert labels("spend_90d") == SYNTHETIC.describe("spend_90d")
    assert labels("type_fit") == PLATFORM_LABELS["type_fit"]
    assert labels("txn_count_7d") == "purchases count (7 days)"
    assert labels("request_hour") == "request hour"
    assert ReasonLabels()("spend_90d") == "spend (90 days)"
