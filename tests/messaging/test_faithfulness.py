"""The faithfulness check: numbers, categories, merchants and names must come from the facts."""

from __future__ import annotations

import pytest

from smartstack.datasets.synthetic.vocabulary import VOCABULARY as SYNTHETIC
from smartstack.messaging.facts import ExplanationFacts
from smartstack.messaging.faithfulness import Verdict, extract_categories, extract_quantities
from smartstack.messaging.faithfulness import check as check_in


def check(text: str, facts: ExplanationFacts) -> Verdict:
    return check_in(text, facts, SYNTHETIC)


def quantities(text: str) -> list[tuple[float, str]]:
    return [(q.value, q.unit) for q in extract_quantities(text)]


def test_numbers_are_extracted_with_their_units() -> None:
    text = (
        "You spent $1,240.50 (USD 42, 17 dollars, $1.2k) — 3x or 2.5× or 3 times, twice, "
        "three times, 15% or 20 percent, over 30 days and three months."
    )

    assert quantities(text) == [
        (1240.5, "usd"),
        (42.0, "usd"),
        (17.0, "usd"),
        (1200.0, "usd"),
        (3.0, "x"),
        (2.5, "x"),
        (3.0, "x"),
        (2.0, "x"),
        (3.0, "x"),
        (15.0, "pct"),
        (20.0, "pct"),
        (30.0, "n"),
        (3.0, "n"),
    ]


def test_categories_are_recognised_by_their_many_names() -> None:
    text = "Flights, a latte, groceries, fuel, pharmacy and online shopping"

    assert extract_categories(text, SYNTHETIC) == {
        "travel",
        "coffee_shops",
        "groceries",
        "gas",
        "drugstores",
        "online_retail",
    }


@pytest.mark.parametrize(
    "text",
    [
        "You spent 3x as much at coffee shops in the last 30 days ($42.60) as before ($14.20).",
        "Coffee is up 200%: $43 in 30 days against $14 a month. 15% off coffee shops fits.",
        "You made 12 coffee purchases in 90 days; coffee shops are 12% of your spend.",
        "Transit is your biggest category (53%), and your Green card gets 15% off coffee shops.",
        "Coffee spending tripled over the last 30 days, so take 15% off coffee shops on $5 or more.",
        "You bought coffee 12 times in the last 90 days.",  # a count, not a multiplier
    ],
)
def test_true_statements_pass(text: str, coffee_facts: ExplanationFacts) -> None:
    assert check(text, coffee_facts).faithful, check(text, coffee_facts).reason


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("You spent $120 at coffee shops.", "number '$120'"),
        ("You spent 4x as much at coffee shops.", "number '4x'"),
        ("Coffee shops are 30% of your spend.", "number '30%'"),
        ("You spent $42.60, so 15% off saves $6.39.", "number '$6.39'"),  # derived, not a fact
        ("You visited coffee shops 40 times.", "number '40 times'"),
        ("You spent 12 times as much at coffee shops.", "number '12 times'"),  # not the count
        ("Great for your next trip: 15% off coffee shops.", "category 'travel'"),
        ("Save at Roast Republic with 15% off coffee shops.", "merchant 'Roast Republic'"),
        ("Enjoy 15% off coffee shops at Starbucks.", "name 'Starbucks'"),
        ("Your Platinum card gets 15% off coffee shops.", "name 'Platinum'"),
        ("Since June you spent 3x as much at coffee shops.", "name 'June'"),
    ],
)
def test_invented_statements_fail(text: str, problem: str, coffee_facts: ExplanationFacts) -> None:
    verdict = check(text, coffee_facts)

    assert not verdict.faithful
    assert problem in verdict.reason


def test_rounding_is_allowed_only_to_the_precision_shown(coffee_facts: ExplanationFacts) -> None:
    assert check("You spent $43 at coffee shops.", coffee_facts).faithful  # 42.60
    assert check("You spent $42.6 at coffee shops.", coffee_facts).faithful
    assert not check("You spent $42.90 at coffee shops.", coffee_facts).faithful
    assert not check("You spent about $40 at coffee shops.", coffee_facts).faithful


def test_numbers_in_the_offer_headline_are_facts(coffee_facts: ExplanationFacts) -> None:
    travel = coffee_facts.model_copy(
        update={
            "offer": coffee_facts.offer.model_copy(
                update={"headline": "$100 back on hotel stays over $500", "category": "travel"}
            )
        }
    )

    assert check("Book a hotel: $100 back on stays over $500.", travel).faithful
