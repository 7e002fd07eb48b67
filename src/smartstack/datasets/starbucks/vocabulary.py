"""How explanations speak about the Starbucks rewards offers.

Every purchase and every offer is at Starbucks (one category, ``coffee_shops``, and one merchant
a text may always name). Offers are BOGO and discount offers, stated as their terms ("spend $10
within 7 days, get a $2 reward": the catalogue's ``min_spend``, ``value`` and
``duration_days``), and informational offers, which carry no reward. Facts come from the
feature views ``starbucks_customer_activity`` (purchases and spend over the last 7 and 30 days
of the marts' 3/7/14/30) and ``starbucks_customer_offer_history`` (offers of the offer's type
received, viewed and completed before), plus membership days; the member's stated age, income
and gender are never cited.
"""

from __future__ import annotations

from smartstack.data.schema import STARBUCKS_OFFER_TYPES
from smartstack.datasets.starbucks.reader import CATEGORY, MERCHANT
from smartstack.datasets.vocabulary import (
    Category,
    Citable,
    FactFeatures,
    OfferType,
    Tenure,
    Topic,
    TypeHistory,
    Unit,
    Vocabulary,
    Windows,
    by_name,
)

FEATURE_WINDOWS = (3, 7, 14, 30)  # dbt var `starbucks_spend_windows`
OFFER_STEPS = ("received", "viewed", "completed", "succeeded")
_TERMS = "spend {min_spend} within {days} days, get a {value} reward"
_GOAL = "spending {min_spend} within {days} days to get a {value} reward"

OFFER_TYPES = by_name(
    (
        OfferType("bogo", "usd", "BOGO offer", "BOGO offers", f"this BOGO offer ({_TERMS})", _GOAL),
        OfferType(
            "discount",
            "usd",
            "discount offer",
            "discount offers",
            f"this discount offer ({_TERMS})",
            _GOAL,
        ),
        OfferType("informational", None, "announcement", "announcements", "this announcement"),
    )
)
assert tuple(OFFER_TYPES) == STARBUCKS_OFFER_TYPES

_STEP_WORDS = {
    "received": "received",
    "viewed": "viewed",
    "completed": "completed",
    "succeeded": "viewed, then completed",
}


def _citable() -> dict[str, Citable]:
    """Purchases, offer history and membership; not the stated demographics, and not the
    offer's own terms (the offer is in the facts already)."""
    at = f"at {MERCHANT}"

    def activity(meaning: str, unit: Unit = "n", topic: Topic = "activity") -> Citable:
        return Citable(meaning, unit, topic, CATEGORY)

    out = {
        "txn_count_all": activity(f"purchases {at} so far"),
        "spend_all": activity(f"spend {at} so far (USD)", "usd"),
        **{
            name: citable
            for w in FEATURE_WINDOWS
            for name, citable in (
                (f"txn_count_{w}d", activity(f"purchases {at} in the last {w} days")),
                (f"spend_{w}d", activity(f"spend {at} in the last {w} days (USD)", "usd")),
            )
        },
        "avg_ticket": activity(f"average purchase {at} (USD)", "usd"),
        "ticket_median": activity(f"median purchase {at} (USD)", "usd"),
        "ticket_max": activity(f"largest purchase {at} (USD)", "usd"),
        "hours_since_last_txn": activity("hours since the last purchase"),
        "active_days": activity(f"days with a purchase {at}"),
        "spend_per_day": activity(f"average spend {at} per day (USD)", "usd"),
        "txn_per_day": activity(f"average purchases {at} per day"),
        "offer_category_share_30d": activity(f"bought anything {at} in the last 30 days"),
        # Pair features of the offer and the member (computed at request time: no value in
        # the member's row, so only their meaning reaches the facts).
        "min_spend_to_avg_ticket": activity(
            "the offer's minimum spend against the average purchase", "x", "reach"
        ),
        "min_spend_to_median_ticket": activity(
            "the offer's minimum spend against the median purchase", "x", "reach"
        ),
        "min_spend_to_max_ticket": activity(
            "the offer's minimum spend against the largest purchase", "x", "reach"
        ),
        "expected_spend_ratio": activity(
            "spend expected within the offer's window at the usual pace, per dollar required",
            "x",
            "reach",
        ),
        "recent_spend_ratio": activity(
            "spend expected within the offer's window at the last 7 days' pace, per dollar "
            "required",
            "x",
            "reach",
        ),
        "membership_days": Citable("days as a rewards member"),
    }
    history: Topic = "history"
    steps = {**_STEP_WORDS, "completed_unviewed": "completed without being viewed"}
    for step, words in steps.items():
        out[f"offers_{step}"] = Citable(f"offers {words} so far", "n", history)
    for offer_type in OFFER_TYPES.values():
        for step in OFFER_STEPS:
            out[f"{step}_{offer_type.name}"] = Citable(
                f"{offer_type.plural} {_STEP_WORDS[step]} so far", "n", history
            )
    for step in OFFER_STEPS:
        out[f"{step}_this_type"] = Citable(
            f"offers of this offer's type {_STEP_WORDS[step]} so far", "n", history
        )
    rates = {
        "view_rate": "share of the offers received that were viewed",
        "social_view_rate": "share of the offers received through social media that were viewed",
        "completion_rate": "share of the completable offers received that were completed",
        "success_rate": "share of the completable offers received that were viewed, then completed",
        "bogo_success_share": "share of BOGO offers among the offers viewed, then completed",
        "this_type_view_rate": "share of the offers of this type received that were viewed",
        "this_type_success_rate": "share of the offers of this type received that were viewed, "
        "then completed",
        "type_fit": "how well the offer's type matches the offers viewed, then completed",
    }
    out.update({name: Citable(meaning, "pct", history) for name, meaning in rates.items()})
    out["received_social"] = Citable("offers received through social media so far", "n", history)
    out["viewed_social"] = Citable(
        "offers received through social media that were viewed so far", "n", history
    )
    out["open_offers"] = Citable("offers received and still open", "n", history)
    out["mean_hours_to_view"] = Citable("average hours from receiving an offer to viewing it")
    out["hours_since_last_offer"] = Citable("hours since the last offer was received")
    return out


VOCABULARY = Vocabulary(
    name="starbucks",
    offer_noun="Starbucks rewards offer",
    account="rewards account",
    categories=by_name(
        (
            Category(
                name=CATEGORY,
                label=MERCHANT,
                place=True,
                words=("coffee( shops?)?", "caf[eé]s?", "lattes?", "espresso"),
                merchants=(MERCHANT,),
            ),
        )
    ),
    offer_types=OFFER_TYPES,
    windows=Windows(recent=7, longer=30),
    window_numbers=(1.0, 3.0, 7.0, 14.0, 30.0),
    features=FactFeatures(
        spend="spend_{days}d",
        txn_count="txn_count_{days}d",
        total_spend="spend_{days}d",
    ),
    citable=_citable(),
    merchant=MERCHANT,
    tenure=Tenure(feature="membership_days", key="days_as_rewards_member"),
    history=TypeHistory(
        received="received_{offer_type}",
        viewed="viewed_{offer_type}",
        completed="completed_{offer_type}",
    ),
)
