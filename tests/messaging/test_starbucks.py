"""Explanations on the Starbucks data set, from real feature rows, in its own vocabulary.

The rows come from the real dbt marts of a 150-member sample of the public files
(`starbucks_rows.py`); nothing here is a hand-made Starbucks row. The synthetic vocabulary is
used only to show what a Starbucks text must never contain (a synthetic category or merchant),
and that it still refuses "Starbucks" in a synthetic explanation.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smartstack.datasets.starbucks.vocabulary import VOCABULARY as STARBUCKS
from smartstack.messaging import Explainer, LLMClient, Source
from smartstack.messaging.explainer import OfferToExplain
from smartstack.messaging.facts import ExplanationFacts, OfferHistory, Window, build_facts
from smartstack.messaging.faithfulness import check, extract_categories, extract_merchants
from smartstack.messaging.prompt import build_messages, facts_payload
from smartstack.messaging.redaction import Redactor
from smartstack.messaging.templates import render, usd
from smartstack.settings import LLMSettings, Settings
from tests.messaging.conftest import SYNTHETIC
from tests.messaging.openai_server import OpenAICompatibleServer, Reply
from tests.messaging.starbucks_rows import StarbucksRows

DEMOGRAPHICS = [("age", 5.0), ("income", 4.0), ("gender_female", 3.0), ("gender_male", 2.5)]


def member(starbucks: StarbucksRows, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first member of the sample whose row is as a test needs it."""
    found = next((row for row in starbucks.rows if wanted(row)), None)
    assert found is not None, "no member of the sample fits"
    return found


def offer(starbucks: StarbucksRows, offer_type: str, **terms: float) -> dict[str, Any]:
    return next(
        o
        for o in starbucks.offers
        if o["offer_type"] == offer_type and all(o[k] == v for k, v in terms.items())
    )


def facts_of(row: dict[str, Any], terms: dict[str, Any], reasons=()) -> ExplanationFacts:
    return build_facts(row, terms, list(reasons), "fv", STARBUCKS)


def test_facts_are_read_from_the_starbucks_feature_views(starbucks: StarbucksRows) -> None:
    row = member(starbucks, lambda r: r["spend_7d"] > 0 and r["received_bogo"] > 0)
    bogo = offer(starbucks, "bogo", min_spend=5.0, duration_days=7.0)
    reasons = [("spend_7d", 0.5), *DEMOGRAPHICS, ("completed_this_type", 0.4)]

    facts = facts_of(row, bogo, reasons)

    a = facts.offer_category
    assert a.category == "coffee_shops" and facts.top_category is None
    assert a.recent == Window(days=7, spend=row["spend_7d"], txn_count=row["txn_count_7d"])
    assert a.longer == Window(days=30, spend=row["spend_30d"], txn_count=row["txn_count_30d"])
    assert a.share is None and a.trend is None and a.trend_label == "none"
    assert facts.total_spend == row["spend_30d"] and facts.tenure == row["membership_days"]
    assert facts.card_product is None and facts.quiz_favourite_category is None
    assert facts.offer_history == OfferHistory(
        offer_type="bogo",
        received=row["received_bogo"],
        viewed=row["viewed_bogo"],
        completed=row["completed_bogo"],
    )
    assert (facts.offer.min_spend, facts.offer.value, facts.offer.duration_days) == (5, 5, 7)
    # Stated demographics are never facts; a request-time feature has no value in the row.
    assert [(r.feature, r.value) for r in facts.reason_codes] == [
        ("spend_7d", row["spend_7d"]),
        ("completed_this_type", None),
    ]


def test_every_member_gets_a_faithful_explanation_in_starbucks_terms(
    starbucks: StarbucksRows,
) -> None:
    """Every member with every offer of the catalogue, reasons led by purchases, history,
    reach or demographics in turn: faithful, natural, the offer's own terms, nothing synthetic."""
    reason_sets = [
        [],
        [("spend_7d", 1.0)],
        [("completed_this_type", 1.0)],
        [("min_spend_to_avg_ticket", 1.0)],
        DEMOGRAPHICS,
        [("offers_viewed", 1.0), ("view_rate", 0.5)],
    ]
    angles: Counter[str] = Counter()
    for i, row in enumerate(starbucks.rows):
        for k, terms in enumerate(starbucks.offers):
            facts = facts_of(row, terms, reason_sets[(i + k) % len(reason_sets)])
            rendered = render(facts, STARBUCKS)
            text = rendered.text
            angles[rendered.template_id.split("/")[0]] += 1

            verdict = check(text, facts, STARBUCKS)
            assert verdict.faithful, (verdict.reason, text)
            assert extract_categories(text, SYNTHETIC) <= {"coffee_shops"}, text
            assert not extract_merchants(text, SYNTHETIC), text
            assert "card" not in text.lower(), text
            if terms["offer_type"] == "informational":
                assert "reward" not in text.lower(), text  # it carries none
            else:
                for term in ("min_spend", "value"):
                    assert f"${terms[term]:g} " in text or f"${terms[term]:g}," in text, text
                assert f"within {terms['duration_days']:g} days" in text, text
            assert text.endswith(".") and text[0].isupper()
            assert not re.search(r"\bNone\b|\bnan\b|\$0\.00|\$-|\s{2}| \.", text), text
            assert len(text.split()) <= 60, text
    assert set(angles) >= {"within_reach", "type_history", "habit", "come_back", "news"}


def test_the_history_with_offers_of_this_type_is_told_from_the_facts(
    starbucks: StarbucksRows,
) -> None:
    row = member(starbucks, lambda r: 0 < r["completed_discount"] < r["received_discount"])
    discount = offer(starbucks, "discount", min_spend=20.0)

    facts = facts_of(row, discount, [("completed_this_type", 1.0)])
    rendered = render(facts, STARBUCKS)

    done, received = row["completed_discount"], row["received_discount"]
    assert rendered.template_id.startswith("type_history/")
    assert rendered.text.startswith(
        f"You completed {done} of the {received} discount offers you received before."
    )
    assert "spend $20 within 10 days, get a $5 reward" in rendered.text


def test_spending_that_covers_the_minimum_makes_the_offer_within_reach(
    starbucks: StarbucksRows,
) -> None:
    row = member(starbucks, lambda r: r["spend_7d"] >= 10)
    discount = offer(starbucks, "discount", min_spend=10.0, duration_days=7.0)

    rendered = render(facts_of(row, discount, [("spend_7d", 1.0)]), STARBUCKS)

    assert rendered.template_id.startswith("within_reach/")
    assert usd(row["spend_7d"]) in rendered.text and "in the last 7 days" in rendered.text
    assert "spending $10 within 7 days to get a $2 reward" in rendered.text


def test_the_check_holds_starbucks_text_to_its_facts(starbucks: StarbucksRows) -> None:
    row = member(starbucks, lambda r: r["txn_count_7d"] > 1)
    facts = facts_of(row, offer(starbucks, "discount", min_spend=10.0, duration_days=7.0))
    n = row["txn_count_7d"]
    true = (
        f"You bought coffee at Starbucks {n} times in the last 7 days, so spending $10 "
        "within 7 days to get a $2 reward suits you."
    )

    assert check(true, facts, STARBUCKS).faithful, check(true, facts, STARBUCKS).reason
    for text, problem in [
        (true.replace(f" {n} times", f" {n + 37} times"), f"number '{n + 37} times'"),
        (true.replace("$2 reward", "$3 reward"), "number '$3'"),
        ("Spend $10 at Roast Republic this week.", "name 'Roast'"),
    ]:
        verdict = check(text, facts, STARBUCKS)
        assert not verdict.faithful and problem in verdict.reason, (text, verdict.reason)


def test_starbucks_is_named_only_where_it_is_the_data_set(
    starbucks: StarbucksRows, coffee_facts: ExplanationFacts
) -> None:
    row = member(starbucks, lambda r: True)
    facts = facts_of(row, offer(starbucks, "bogo", min_spend=10.0, duration_days=7.0))
    text = "Enjoy this BOGO offer at Starbucks: spend $10 within 7 days, get a $10 reward."
    synthetic = check("Enjoy 15% off coffee shops at Starbucks.", coffee_facts, SYNTHETIC)

    assert check(text, facts, STARBUCKS).faithful
    assert not synthetic.faithful and "name 'Starbucks'" in synthetic.reason


def test_the_prompt_carries_starbucks_facts_and_no_demographics(starbucks: StarbucksRows) -> None:
    row = member(starbucks, lambda r: r["received_bogo"] > 0 and r["age"] == r["age"])
    facts = facts_of(row, offer(starbucks, "bogo", min_spend=5.0, duration_days=5.0), DEMOGRAPHICS)
    news = facts_of(row, offer(starbucks, "informational", duration_days=3.0))

    system, user = build_messages(facts, STARBUCKS)
    payload = facts_payload(facts, STARBUCKS)

    assert "Starbucks rewards offer" in system["content"]
    activity = payload["customer"]["offer_category_activity"]
    assert activity["category"] == "Starbucks"
    assert activity["spend_last_7_days_usd"] == round(row["spend_7d"], 2)
    assert activity["purchases_last_30_days"] == row["txn_count_30d"]
    assert payload["customer"]["earlier_offers_of_this_type"]["received"] == row["received_bogo"]
    assert payload["offer"]["days_to_use_it"] == 5.0 and "reward" not in payload["offer"]
    assert facts_payload(news, STARBUCKS)["offer"]["reward"] == "none"
    assert payload["why_the_ranking_chose_it"] == []  # demographics only: nothing to cite
    for word in ("age", "income", "gender", row["customer_id"]):
        assert word not in json.dumps(payload)
    for message in (system, user):
        assert not Redactor(STARBUCKS).redact(message["content"]).changed, message["content"]


@pytest.mark.usefixtures("clean_env")
def test_an_explainer_for_starbucks_settings_explains_ranked_offers_in_its_terms(
    starbucks: StarbucksRows, tmp_path: Path
) -> None:
    """What `/rank` does on the Starbucks data set: `for_offers` with the catalogue's terms."""
    explainer = Explainer.from_settings(Settings(home=tmp_path, dataset="starbucks"), persist=False)
    row = member(starbucks, lambda r: r["spend_7d"] >= 20)
    terms = offer(starbucks, "discount", min_spend=20.0)
    features = {k: v for k, v in row.items() if k != "customer_id"}

    [explained] = explainer.for_offers(
        row["customer_id"], features, "fv", [OfferToExplain(terms, [("spend_7d", 1.0)])], live=False
    )

    assert explainer.vocabulary is STARBUCKS
    assert explained.source == Source.template and explained.template_id.startswith("within_reach")
    assert "at Starbucks" in explained.text and "spending $20 within 10 days" in explained.text


def test_an_llm_answer_on_starbucks_is_checked_in_starbucks_terms(
    starbucks: StarbucksRows, llm_config: LLMSettings, llm_server: OpenAICompatibleServer
) -> None:
    explainer = Explainer(LLMClient(llm_config), vocabulary=STARBUCKS)
    row = member(starbucks, lambda r: r["txn_count_30d"] > 1)
    terms = offer(starbucks, "bogo", min_spend=10.0, duration_days=5.0)
    n = row["txn_count_30d"]
    good = f"You made {n} purchases at Starbucks in the last 30 days; this BOGO offer suits you."
    invented = f"You made {n + 40} purchases at Starbucks, so this BOGO offer suits you."
    llm_server.script(Reply(good), Reply(invented))

    first = explainer.explain(facts_of(row, terms))
    second = explainer.explain(facts_of(dict(row, customer_id="other"), terms))

    assert first.source == Source.llm and first.text == good
    assert second.fallback_reason == "unfaithful" and f"'{n + 40}'" in (
        second.fallback_detail or ""
    )
    system = llm_server.requests[0]["messages"][0]["content"]
    assert "Starbucks rewards offer" in system
