"""Template explanations: deterministic, true to the facts, natural for every kind of customer."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from smartstack.datasets.synthetic.vocabulary import VOCABULARY as SYNTHETIC
from smartstack.messaging import faithfulness
from smartstack.messaging.facts import ExplanationFacts, build_facts
from smartstack.messaging.templates import TemplateText, choose_angle, pct, times, usd
from smartstack.messaging.templates import render as render_in
from tests.messaging import raw_features
from tests.messaging.conftest import COFFEE_DISCOUNT, COFFEE_REASONS, coffee_features

POINTS_TRAVEL = {
    "offer_id": "OFR-021",
    "headline": "4x points on travel",
    "merchant_category": "travel",
    "offer_type": "points",
    "value": 4.0,
    "min_spend": 0.0,
}


def facts_for(
    offer: dict[str, Any] = COFFEE_DISCOUNT, reasons=(), **features: Any
) -> ExplanationFacts:
    return build_facts(coffee_features(**features), offer, list(reasons), "fv", SYNTHETIC)


def render(facts: ExplanationFacts) -> TemplateText:
    return render_in(facts, SYNTHETIC)


def test_formatting() -> None:
    assert (usd(6.5), usd(42.6), usd(1240.4)) == ("$6.50", "$43", "$1,240")
    assert (times(3.02), times(2.44)) == ("3x", "2.4x")
    assert pct(0.118) == "12%"


def test_the_same_facts_give_the_same_text() -> None:
    assert render(facts_for()) == render(facts_for())


def test_the_issue_example_reads_as_promised() -> None:
    text = render(facts_for(reasons=COFFEE_REASONS)).text

    assert "3x" in text and "coffee shops" in text and "15% off coffee shops" in text


@pytest.mark.parametrize(
    ("features", "offer", "reasons", "angle", "says"),
    [
        ({}, COFFEE_DISCOUNT, COFFEE_REASONS, "trend_up", "3x"),
        ({"trend_coffee_shops": 10.0}, COFFEE_DISCOUNT, [], "surge", "$43"),
        ({"trend_coffee_shops": 0.4}, COFFEE_DISCOUNT, [], "habit", "at coffee shops"),
        (
            {"trend_coffee_shops": 0.4},
            COFFEE_DISCOUNT,
            [("trend_coffee_shops", 1.0)],
            "trend_down",
            "$43",
        ),
        (
            {"spend_coffee_shops_30d": 0.0, "trend_coffee_shops": 0.0},
            COFFEE_DISCOUNT,
            [("trend_coffee_shops", 1.0)],
            "stopped",
            "coffee shops",
        ),
        (
            {"quiz_favourite_category": "coffee_shops"},
            COFFEE_DISCOUNT,
            [("quiz_favourite_category", 1.0)],
            "quiz",
            "favourite",
        ),
        (
            {"points_redemption_share": 0.8},
            POINTS_TRAVEL,
            [("points_redemption_share", 1.0)],
            "type_preference",
            "80%",
        ),
        ({}, POINTS_TRAVEL, [], "explore", "transit"),
    ],
)
def test_angles(
    features: dict[str, Any], offer: dict[str, Any], reasons: list, angle: str, says: str
) -> None:
    facts = facts_for(offer, reasons, **features)

    rendered = render(facts)

    assert choose_angle(facts, SYNTHETIC) == angle
    assert rendered.template_id.startswith(f"{angle}/")
    assert says in rendered.text
    assert faithfulness.check(rendered.text, facts, SYNTHETIC).faithful


def test_cold_start_uses_no_spending_facts() -> None:
    facts = build_facts(
        {"customer_id": "C-new", "card_product": "Gold", "quiz_favourite_category": None},
        POINTS_TRAVEL,
        [],
        "fv",
        SYNTHETIC,
    )

    rendered = render(facts)

    assert rendered.template_id.startswith("cold_start/")
    assert "$" not in rendered.text and "%" not in rendered.text
    assert "4x points on travel" in rendered.text


def test_points_and_discount_lovers_hear_about_their_taste() -> None:
    points = render(
        facts_for(POINTS_TRAVEL, [("share_travel_90d", 1.0)], points_redemption_share=1.0)
    )
    discounts = render(facts_for(reasons=COFFEE_REASONS, points_redemption_share=0.1))

    assert "Every offer you redeemed in the last 90 days was a points offer." in points.text
    assert "discounts or cashback (90%)" in discounts.text


@pytest.fixture(scope="module")
def generated(small_dataset: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    snapshot = json.loads((small_dataset / "manifest.json").read_text())["snapshot"][:10]
    raw = small_dataset / "raw"
    return raw_features.customer_features(raw, snapshot), raw_features.offers(raw)


@pytest.mark.slow
def test_every_generated_customer_gets_a_natural_faithful_explanation(
    generated: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]],
) -> None:
    """Every customer with four offers in rotation (every offer is covered), and reasons led by
    trend, share, quiz or taste in turn."""
    features, offers_by_id = generated
    all_offers = list(offers_by_id.values())
    reason_sets = [
        lambda c: [(f"trend_{c}", 1.0)],
        lambda c: [(f"share_{c}_90d", 1.0)],
        lambda c: [("quiz_favourite_category", 1.0)],
        lambda c: [("points_redemption_share", 1.0)],
        lambda c: [],
    ]
    angles: Counter[str] = Counter()
    for i, (customer_id, row) in enumerate(features.items()):
        for offer in (all_offers[(i * 4 + k) % len(all_offers)] for k in range(4)):
            reasons = reason_sets[i % len(reason_sets)](offer["merchant_category"])
            facts = build_facts(row, offer, reasons, "fv", SYNTHETIC)
            rendered = render(facts)
            text = rendered.text
            angles[rendered.template_id.split("/")[0]] += 1

            assert faithfulness.check(text, facts, SYNTHETIC).faithful, (customer_id, text)
            assert text.endswith(".") and text[0].isupper()
            assert not re.search(r"\bNone\b|\bnan\b|\$0\.00|\$-|\s{2}| \.", text), text
            assert len(text.split()) <= 60, text
    assert set(angles) >= {
        "trend_up",
        "surge",
        "habit",
        "trend_down",
        "stopped",
        "quiz",
        "type_preference",
        "explore",
    }
