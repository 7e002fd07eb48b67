"""How explanations speak about the synthetic card-offer world.

Ten merchant categories with their labels and merchants (:mod:`.world`), points, discount and
cashback offers, four card products; spending over 30 and 90 days per category, with shares of
wallet and the 30-day trend of the dbt marts ``customer_spend_features`` and
``customer_profile_features``; the points share of redeemed offers and the preferences quiz.
"""

from __future__ import annotations

from smartstack.data.schema import CARD_PRODUCTS, MERCHANT_CATEGORIES
from smartstack.datasets.synthetic.world import CATEGORIES, category_label
from smartstack.datasets.vocabulary import (
    Category,
    Citable,
    FactFeatures,
    OfferType,
    Tenure,
    Trend,
    TypeTaste,
    Unit,
    Vocabulary,
    Windows,
    by_name,
)

# dbt var `trend_cap` (dbt_project.yml): at the cap the ratio is a floor, not a measurement.
TREND_CAP = 10.0
FEATURE_WINDOWS = (7, 30, 90)  # the marts' spend windows

# Categories that are places ("at coffee shops"); the rest are kinds of spending ("on travel").
_PLACES = {"dining", "coffee_shops", "gas", "drugstores"}
# Words that name a merchant category, beyond its customer-facing label.
_WORDS: dict[str, tuple[str, ...]] = {
    "dining": ("restaurants?", "dining", "dinners?", "eating out", "takeout"),
    "coffee_shops": ("coffee( shops?)?", "caf[eé]s?", "lattes?", "espresso"),
    "travel": ("travel", "trips?", "flights?", "hotels?", "airlines?", "airfare", "vacations?"),
    "groceries": ("grocer(y|ies)", "supermarkets?"),
    "gas": ("gas( stations?)?", "fuel"),
    "streaming": ("streaming", "music"),
    "online_retail": ("online (shopping|retail|purchases?|stores?)", "e-?commerce"),
    "entertainment": ("entertainment", "concerts?", "movies?", "cinemas?", "theat(er|re)s?"),
    "drugstores": ("drugstores?", "pharmac(y|ies)"),
    "transit": ("transit", "rides?", "taxis?", "metro", "commut(e|es|ing)", "bus(es)?"),
}
# Per category and window: what each family of spend features measures.
_FAMILIES: dict[str, tuple[str, Unit]] = {
    "spend": ("spend on {label} in the last {w} days (USD)", "usd"),
    "txn_count": ("purchases at {label} in the last {w} days", "n"),
    "share": ("share of all spend that went to {label} in the last {w} days", "pct"),
}
# Customer-level features a reason code may name, with what they mean to a person.
_PROFILE: dict[str, Citable] = {
    "days_since_last_txn": Citable("days since the customer's last purchase"),
    "spend_90d": Citable("total spend in the last 90 days (USD)", "usd"),
    "avg_ticket_90d": Citable("average purchase in the last 90 days (USD)", "usd"),
    "card_product": Citable("the customer's card", "text"),
    "tenure_months": Citable("months as a card member"),
    "points_redemption_share": Citable(
        "share of redeemed offers that were points offers", "pct", "taste"
    ),
    "quiz_favourite_category": Citable(
        "favourite category picked in the preferences quiz", "category", "quiz"
    ),
    "quiz_prefers_rewards": Citable(
        "said in the quiz they prefer points rewards over discounts", "n", "taste"
    ),
}


def _citable() -> dict[str, Citable]:
    out: dict[str, Citable] = {}
    for category in MERCHANT_CATEGORIES:
        label = category_label(category)
        for window in FEATURE_WINDOWS:
            for family, (meaning, unit) in _FAMILIES.items():
                out[f"{family}_{category}_{window}d"] = Citable(
                    meaning.format(label=label, w=window), unit, "activity", category
                )
        out[f"trend_{category}"] = Citable(
            f"{label}: last 30 days' spend vs the monthly average of the 90 days before",
            "x",
            "trend",
            category,
            TREND_CAP,
        )
    return {**out, **_PROFILE}


VOCABULARY = Vocabulary(
    name="synthetic",
    offer_noun="credit-card offer",
    account="card",
    categories=by_name(
        tuple(
            Category(
                name=c,
                label=category_label(c),
                place=c in _PLACES,
                words=_WORDS[c],
                merchants=CATEGORIES[c].merchants,
            )
            for c in MERCHANT_CATEGORIES
        )
    ),
    offer_types=by_name(
        (
            OfferType("points", "x", "points offer", "points offers"),
            OfferType("discount", "pct", "discount", "discounts"),
            OfferType("cashback", "usd", "cashback offer", "cashback offers"),
        )
    ),
    windows=Windows(recent=30, longer=90),
    window_numbers=(1.0, 3.0, 7.0, 30.0, 90.0),
    features=FactFeatures(
        spend="spend_{category}_{days}d",
        txn_count="txn_count_{category}_{days}d",
        share="share_{category}_{days}d",
        total_spend="spend_{days}d",
        days_since_last_txn="days_since_last_txn",
        card_product="card_product",
        quiz_favourite_category="quiz_favourite_category",
    ),
    citable=_citable(),
    card_products=CARD_PRODUCTS,
    trend=Trend(feature="trend_{category}", cap=TREND_CAP, period="month"),
    tenure=Tenure(feature="tenure_months", key="months_as_card_member"),
    taste=TypeTaste(
        feature="points_redemption_share",
        offer_type="points",
        days=90,
        many="points offers",
        one="a points offer",
        others_many="discounts or cashback",
        others_one="a discount or cashback",
        key="points_offers_share_of_redeemed_offers_pct",
        stated_feature="quiz_prefers_rewards",
        stated_yes="You told us you prefer points rewards.",
        stated_no="You told us you prefer discounts to points.",
        stated_words=("points rewards", "discounts"),
    ),
)
