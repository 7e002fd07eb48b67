"""The chat messages sent to the LLM: a strict system prompt and the facts as JSON.

The facts go in as labelled JSON with units in the key names and customer-facing category names,
so the model has no need to convert or compute anything: the faithfulness check accepts the
numbers as given (or rounded) and nothing else. Nulls are left out rather than sent, so the model
is not tempted to talk about what is unknown. Identifiers (even the pseudonymous customer id) and
the feature version are not sent: the text does not need them.
"""

from __future__ import annotations

import json
from typing import Any

from smartstack.data.catalog import category_label
from smartstack.messaging.facts import TREND_CAP, CategoryActivity, ExplanationFacts, ReasonCode

SYSTEM_PROMPT = (
    "You write the short explanation shown next to a credit-card offer: one or two sentences, "
    "at most 45 words, telling the customer why this offer suits them. "
    "Use only the facts in the JSON the user gives you. Every number, category and merchant you "
    "mention must appear in those facts: copy numbers as given or rounded to whole numbers, and "
    "never calculate new numbers, dates, amounts or percentages. Never invent merchants, places, "
    "names or events. Do not mention facts that are missing. Do not greet the customer or use a "
    "name. Write plain English in the second person, without markdown, emojis or quotes. "
    "Reply with the explanation only."
)


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _activity(a: CategoryActivity) -> dict[str, Any]:
    trend_words = {
        "none": None,
        "stopped": "no spend in the last 30 days",
        "down": "spending less than before",
        "steady": "about the same as before",
        "up": "spending more than before",
        "surge": "far more than in the months before, or new",
    }
    return _drop_none(
        {
            "category": a.label,
            "spend_last_30_days_usd": round(a.spend_30d, 2),
            "spend_last_90_days_usd": round(a.spend_90d, 2),
            "purchases_last_30_days": a.txn_count_30d,
            "purchases_last_90_days": a.txn_count_90d,
            "share_of_all_spend_last_90_days_pct": round(a.share_90d * 100, 1),
            "trend": trend_words[a.trend_label],
            "last_30_days_vs_prior_monthly_average": (
                f"{a.trend:.1f}x" if a.prior_monthly_avg is not None and a.trend else None
            ),
            "prior_monthly_average_usd": a.prior_monthly_avg,
        }
    )


def _reason(r: ReasonCode) -> dict[str, Any]:
    value = r.value
    if isinstance(value, float):
        if r.feature.startswith("share_") or r.feature == "points_redemption_share":
            value = f"{value * 100:.1f}%"
        elif r.feature.startswith("trend_"):
            value = f"{value:.1f}x" if 0 < value < TREND_CAP else None
        else:
            value = round(value, 2)
    elif r.feature == "quiz_favourite_category" and isinstance(value, str):
        value = category_label(value)
    return _drop_none({"meaning": r.meaning, "customer_value": value})


def facts_payload(facts: ExplanationFacts) -> dict[str, Any]:
    """The facts as the model reads them."""
    offer = facts.offer
    share = facts.points_redemption_share
    prefers = {True: "points rewards", False: "discounts", None: None}[facts.quiz_prefers_rewards]
    customer = _drop_none(
        {
            "new_customer_without_purchases": True if facts.is_cold_start else None,
            "offer_category_activity": _activity(facts.offer_category),
            "biggest_spending_category": (
                _activity(facts.top_category) if facts.top_category else None
            ),
            "total_spend_last_90_days_usd": round(facts.total_spend_90d, 2),
            "days_since_last_purchase": facts.days_since_last_txn,
            "card_product": facts.card_product,
            "months_as_card_member": facts.tenure_months,
            "points_offers_share_of_redeemed_offers_pct": (
                round(share * 100, 1) if share is not None else None
            ),
            "quiz_favourite_category": (
                category_label(facts.quiz_favourite_category)
                if facts.quiz_favourite_category
                else None
            ),
            "quiz_prefers": prefers,
        }
    )
    return {
        "offer": _drop_none(
            {
                "headline": offer.headline,
                "category": offer.category_label,
                "type": offer.offer_type,
                "minimum_spend_usd": offer.min_spend or None,
            }
        ),
        "customer": customer,
        "why_the_ranking_chose_it": [_reason(r) for r in facts.reason_codes],
    }


def build_messages(facts: ExplanationFacts) -> list[dict[str, str]]:
    """System and user messages for one explanation."""
    payload = json.dumps(facts_payload(facts), ensure_ascii=False, indent=1)
    user = f"Facts:\n{payload}\n\nWrite the explanation."
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
