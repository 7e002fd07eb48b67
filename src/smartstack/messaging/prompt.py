"""The chat messages sent to the LLM: a strict system prompt and the facts as JSON.

The facts go in as labelled JSON with units and windows in the key names and customer-facing
category names, so the model has no need to convert or compute anything: the faithfulness check
accepts the numbers as given (or rounded) and nothing else. Nulls are left out rather than sent,
so the model is not tempted to talk about what is unknown. Identifiers (even the pseudonymous
customer id) and the feature version are not sent: the text does not need them. Names, windows
and the offer's kind come from the data set's `Vocabulary`.
"""

from __future__ import annotations

import json
from typing import Any

from smartstack.datasets.vocabulary import Vocabulary
from smartstack.messaging.facts import CategoryActivity, ExplanationFacts, ReasonCode

_SYSTEM_PROMPT = (
    "You write the short explanation shown next to a {offer_noun}: one or two sentences, "
    "at most 45 words, telling the customer why this offer suits them. "
    "Use only the facts in the JSON the user gives you. Every number, category and merchant you "
    "mention must appear in those facts: copy numbers as given or rounded to whole numbers, and "
    "never calculate new numbers, dates, amounts or percentages. Never invent merchants, places, "
    "names or events. Do not mention facts that are missing. Do not greet the customer or use a "
    "name. Write plain English in the second person, without markdown, emojis or quotes. "
    "Reply with the explanation only."
)
_TREND_WORDS = {
    "none": None,
    "stopped": "no spend in the last {days} days",
    "down": "spending less than before",
    "steady": "about the same as before",
    "up": "spending more than before",
    "surge": "far more than in the {period}s before, or new",
}


def system_prompt(vocabulary: Vocabulary) -> str:
    """The rules the model writes by, for the data set's kind of offer."""
    return _SYSTEM_PROMPT.format(offer_noun=vocabulary.offer_noun)


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _activity(a: CategoryActivity, vocabulary: Vocabulary) -> dict[str, Any]:
    recent, longer = a.recent, a.longer
    values: dict[str, Any] = {
        "category": vocabulary.category(a.category).label,
        f"spend_last_{recent.days}_days_usd": round(recent.spend, 2),
        f"spend_last_{longer.days}_days_usd": round(longer.spend, 2),
        f"purchases_last_{recent.days}_days": recent.txn_count,
        f"purchases_last_{longer.days}_days": longer.txn_count,
        f"share_of_all_spend_last_{longer.days}_days_pct": (
            round(a.share * 100, 1) if a.share is not None else None
        ),
    }
    trend = vocabulary.trend
    if trend is not None:
        words = _TREND_WORDS[a.trend_label]
        measured = a.prior_average is not None and a.trend
        values |= {
            "trend": words.format(days=recent.days, period=trend.period) if words else None,
            f"last_{recent.days}_days_vs_prior_{trend.period}ly_average": (
                f"{a.trend:.1f}x" if measured else None
            ),
            f"prior_{trend.period}ly_average_usd": a.prior_average,
        }
    return _drop_none(values)


def _reason(r: ReasonCode, vocabulary: Vocabulary) -> dict[str, Any]:
    value = r.value
    if isinstance(value, float):
        if r.unit == "pct":
            value = f"{value * 100:.1f}%"
        elif r.unit == "x":
            value = f"{value:.1f}x"
        else:
            value = round(value, 2)
    elif r.unit == "category" and isinstance(value, str):
        known = vocabulary.categories.get(value)
        value = known.label if known else None
    return _drop_none({"meaning": r.meaning, "customer_value": value})


def _history(facts: ExplanationFacts, vocabulary: Vocabulary) -> dict[str, Any] | None:
    h = facts.offer_history
    if h is None:
        return None
    rewarding = vocabulary.offer_type(h.offer_type).unit is not None
    return _drop_none(
        {
            "type": vocabulary.offer_type(h.offer_type).plural,
            "received": h.received,
            "viewed": h.viewed,
            "completed": h.completed if rewarding else None,
        }
    )


def facts_payload(facts: ExplanationFacts, vocabulary: Vocabulary) -> dict[str, Any]:
    """The facts as the model reads them."""
    offer = facts.offer
    longer = facts.offer_category.longer.days
    taste = vocabulary.taste
    share = facts.redeemed_type_share
    prefers = None
    if taste is not None and facts.quiz_prefers_type is not None:
        prefers = taste.stated_words[0 if facts.quiz_prefers_type else 1]
    favourite = facts.quiz_favourite_category
    customer = _drop_none(
        {
            "new_customer_without_purchases": True if facts.is_cold_start else None,
            "offer_category_activity": _activity(facts.offer_category, vocabulary),
            "biggest_spending_category": (
                _activity(facts.top_category, vocabulary) if facts.top_category else None
            ),
            f"total_spend_last_{longer}_days_usd": round(facts.total_spend, 2),
            "days_since_last_purchase": facts.days_since_last_txn,
            "card_product": facts.card_product,
            **({vocabulary.tenure.key: facts.tenure} if vocabulary.tenure else {}),
            **({taste.key: round(share * 100, 1) if share is not None else None} if taste else {}),
            "quiz_favourite_category": (
                vocabulary.category(favourite).label if favourite else None
            ),
            "quiz_prefers": prefers,
            "earlier_offers_of_this_type": _history(facts, vocabulary),
        }
    )
    rewarding = vocabulary.offer_type(offer.offer_type).unit is not None
    return {
        "offer": _drop_none(
            {
                "headline": offer.headline,
                "category": vocabulary.category(offer.category).label,
                "type": offer.offer_type,
                "minimum_spend_usd": offer.min_spend or None,
                "days_to_use_it": offer.duration_days,
                "reward": None if rewarding else "none",
            }
        ),
        "customer": customer,
        "why_the_ranking_chose_it": [_reason(r, vocabulary) for r in facts.reason_codes],
    }


def build_messages(facts: ExplanationFacts, vocabulary: Vocabulary) -> list[dict[str, str]]:
    """System and user messages for one explanation."""
    payload = json.dumps(facts_payload(facts, vocabulary), ensure_ascii=False, indent=1)
    user = f"Facts:\n{payload}\n\nWrite the explanation."
    return [
        {"role": "system", "content": system_prompt(vocabulary)},
        {"role": "user", "content": user},
    ]
