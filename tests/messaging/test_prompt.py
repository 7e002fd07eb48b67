"""The prompt: facts only, labelled with units, no identifiers, no unsupported numbers."""

from __future__ import annotations

import json

from smartstack.datasets.synthetic.vocabulary import VOCABULARY as SYNTHETIC
from smartstack.messaging.facts import ExplanationFacts, build_facts
from smartstack.messaging.prompt import build_messages, system_prompt
from smartstack.messaging.prompt import facts_payload as payload_in
from tests.messaging.conftest import COFFEE_DISCOUNT, coffee_features


def facts_payload(facts: ExplanationFacts) -> dict:
    return payload_in(facts, SYNTHETIC)


def test_messages_are_the_system_rules_and_the_facts(coffee_facts: ExplanationFacts) -> None:
    system, user = build_messages(coffee_facts, SYNTHETIC)

    assert system == {"role": "system", "content": system_prompt(SYNTHETIC)}
    assert "Use only the facts" in system["content"]
    assert "credit-card offer" in system["content"]
    payload = json.loads(user["content"].split("Facts:\n", 1)[1].rsplit("\n\n", 1)[0])
    assert payload == facts_payload(coffee_facts)


def test_no_identifier_or_version_is_sent(coffee_facts: ExplanationFacts) -> None:
    text = json.dumps(facts_payload(coffee_facts))

    assert coffee_facts.customer_id not in text
    assert coffee_facts.feature_version not in text


def test_a_capped_trend_sends_no_multiplier() -> None:
    """At the cap the ratio is a floor ('new, or 10x+'), so no number goes out for it."""
    facts = build_facts(
        coffee_features(trend_coffee_shops=10.0),
        COFFEE_DISCOUNT,
        [("trend_coffee_shops", 1)],
        "v",
        SYNTHETIC,
    )

    payload = facts_payload(facts)

    activity = payload["customer"]["offer_category_activity"]
    assert "last_30_days_vs_prior_monthly_average" not in activity
    assert "prior_monthly_average_usd" not in activity
    assert activity["trend"] == "far more than in the months before, or new"
    assert payload["why_the_ranking_chose_it"][0].keys() == {"meaning"}


def test_missing_facts_are_left_out() -> None:
    facts = build_facts({"customer_id": "C-new"}, COFFEE_DISCOUNT, [], "v", SYNTHETIC)

    customer = facts_payload(facts)["customer"]

    assert customer["new_customer_without_purchases"] is True
    assert "card_product" not in customer and "quiz_prefers" not in customer
    assert "null" not in json.dumps(facts_payload(facts))
