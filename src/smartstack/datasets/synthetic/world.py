"""The synthetic world: merchant categories, merchants, customer archetypes and the offer catalogue.

Kept apart from the sampling code so that the numbers that shape the data (typical ticket sizes,
archetype tastes, offer values) can be read and reviewed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from smartstack.data.schema import CARD_PRODUCTS, MERCHANT_CATEGORIES


@dataclass(frozen=True)
class CategorySpec:
    """How people spend in one merchant category."""

    mean_amount: float  # typical ticket in USD for a Green card holder
    amount_sigma: float  # log-normal spread of the ticket
    peak_hour: int  # hour of day when most purchases happen
    online_share: float  # share of purchases made online
    merchants: tuple[str, ...]
    search_terms: tuple[str, ...]


CATEGORIES: dict[str, CategorySpec] = {
    "dining": CategorySpec(
        42.0,
        0.55,
        19,
        0.10,
        (
            "Olive Hearth",
            "Saffron Table",
            "Harbor Grill",
            "Nonna's Kitchen",
            "Urban Taqueria",
            "Sakura House",
            "The Copper Pot",
            "Brick Lane Curry",
        ),
        ("restaurants near me", "dinner deals", "sushi", "tacos"),
    ),
    "coffee_shops": CategorySpec(
        6.5,
        0.35,
        8,
        0.05,
        (
            "Bean & Leaf",
            "Morning Ritual Coffee",
            "Crema Corner",
            "Roast Republic",
            "Daily Grind",
            "Third Wave Cafe",
        ),
        ("coffee", "latte offer", "cafe near me"),
    ),
    "travel": CategorySpec(
        380.0,
        0.8,
        14,
        0.75,
        (
            "SkyBridge Airlines",
            "Northwind Air",
            "Harborview Hotels",
            "Atlas Stays",
            "RoamRail",
            "Pinecrest Resorts",
            "CityHop Car Rental",
        ),
        ("flights", "hotel deals", "weekend getaway", "airport lounge"),
    ),
    "groceries": CategorySpec(
        78.0,
        0.5,
        17,
        0.15,
        ("FreshFields Market", "Green Basket", "Corner Grocer", "ValueMart Foods", "Harvest Co-op"),
        ("grocery delivery", "supermarket"),
    ),
    "gas": CategorySpec(
        46.0,
        0.3,
        7,
        0.0,
        ("FuelPoint", "RoadStar Gas", "Prairie Petroleum", "QuickFill"),
        ("gas station", "fuel rewards"),
    ),
    "streaming": CategorySpec(
        14.0,
        0.25,
        21,
        1.0,
        ("StreamBox", "TuneWave Music", "CineVault", "PodNest"),
        ("streaming subscription", "music app"),
    ),
    "online_retail": CategorySpec(
        64.0,
        0.7,
        21,
        1.0,
        ("ShopSphere", "ParcelPal", "Everyday Online", "Gadget Grove", "Threadline Apparel"),
        ("online shopping", "electronics sale", "free shipping"),
    ),
    "entertainment": CategorySpec(
        55.0,
        0.6,
        20,
        0.5,
        ("Marquee Cinemas", "Arena Tickets", "Lucky Lanes Bowling", "Stagelight Theatre"),
        ("concert tickets", "movies", "events this weekend"),
    ),
    "drugstores": CategorySpec(
        24.0,
        0.5,
        12,
        0.2,
        ("CarePlus Pharmacy", "WellWay Drug", "Neighborhood Rx"),
        ("pharmacy", "vitamins"),
    ),
    "transit": CategorySpec(
        9.0,
        0.45,
        8,
        0.3,
        ("MetroLink", "CityRide Taxi", "ZipShare Rides", "BayBus"),
        ("ride share", "metro pass"),
    ),
}
assert tuple(CATEGORIES) == MERCHANT_CATEGORIES

# Customer archetypes: relative taste for each category (order of MERCHANT_CATEGORIES) and
# how common the archetype is. A customer's preference is a Dirichlet draw around its archetype.
ARCHETYPES: dict[str, tuple[float, tuple[float, ...]]] = {
    #            share   din  cof  trv  gro  gas  str  onl  ent  drg  trn
    "foodie": (0.22, (8.0, 5.0, 0.6, 2.0, 1.0, 0.8, 1.0, 1.5, 0.5, 1.0)),
    "traveler": (0.14, (2.0, 1.5, 6.0, 1.0, 1.0, 0.6, 1.2, 1.5, 0.5, 2.0)),
    "family": (0.20, (1.5, 0.8, 0.6, 7.0, 4.0, 1.2, 2.0, 1.5, 2.0, 0.5)),
    "digital": (0.16, (1.5, 2.0, 0.8, 1.5, 0.5, 5.0, 6.0, 2.0, 0.5, 1.0)),
    "commuter": (0.13, (1.0, 5.0, 0.6, 2.0, 4.0, 1.0, 1.0, 0.8, 0.8, 5.0)),
    "balanced": (0.15, (2.0, 2.0, 1.0, 2.0, 2.0, 1.0, 2.0, 2.0, 1.0, 1.0)),
}

# Share of *foodie* customers whose taste drifts from dining to travel during the history
# (the product story: a dining-heavy customer who starts travelling).
FOODIE_DRIFT_RATE = 0.4
# Share of dining and coffee taste that moves to travel when a customer drifts.
DRIFT_MOVED_SHARE = {"dining": 0.75, "coffee_shops": 0.4}

# Spend level and the base taste for reward points versus discounts, per card product.
CARD_SHARE = dict(zip(CARD_PRODUCTS, (0.32, 0.28, 0.26, 0.14), strict=True))
CARD_SPEND_MULTIPLIER = dict(zip(CARD_PRODUCTS, (0.8, 1.0, 1.3, 1.9), strict=True))
CARD_REWARD_AFFINITY_BETA = dict(
    zip(CARD_PRODUCTS, ((2.0, 3.5), (2.5, 2.5), (3.5, 2.0), (4.0, 1.8)), strict=True)
)


@dataclass(frozen=True)
class Offer:
    offer_id: str
    headline: str
    merchant_category: str
    offer_type: str  # points | discount | cashback
    value: float  # points multiplier, percent off, or USD back
    min_spend: float
    valid_from: datetime
    valid_to: datetime
    eligible_card_products: tuple[str, ...]

    @property
    def value_score(self) -> float:
        """Value on a common 0..1 scale, so that offers of different types compare."""
        if self.offer_type == "points":
            return min(self.value / 5.0, 1.0)
        if self.offer_type == "discount":
            return min(self.value / 25.0, 1.0)
        return min(self.value / max(self.min_spend, 1.0) / 0.25, 1.0)


_LABELS = {
    "dining": "restaurants",
    "coffee_shops": "coffee shops",
    "travel": "travel",
    "groceries": "groceries",
    "gas": "gas stations",
    "streaming": "streaming",
    "online_retail": "online shopping",
    "entertainment": "entertainment",
    "drugstores": "drugstores",
    "transit": "transit",
}
PREMIUM = ("Gold", "Platinum")


def category_label(category: str) -> str:
    """Customer-facing name of a merchant category."""
    return _LABELS[category]


def build_offer_catalogue(window_start: datetime, window_end: datetime) -> list[Offer]:
    """Three offers per category (one of each type) plus a few time-limited or premium ones.

    Offers span the impression window; some start late or end early so that validity windows
    matter, and some are restricted to premium cards so that eligibility matters.
    """
    span = window_end - window_start
    offers: list[Offer] = []
    for cat_index, category in enumerate(MERCHANT_CATEGORIES):
        spec = CATEGORIES[category]
        label = _LABELS[category]
        ticket = spec.mean_amount
        points_multiplier = 2.0 + (cat_index % 3)  # 2x..4x
        percent = (10.0, 15.0, 20.0)[cat_index % 3]
        cashback = float(np.round(max(ticket * 0.4, 2.0)))
        min_spend_cash = float(np.round(ticket * 1.6))
        offers += [
            Offer(
                f"OFR-{cat_index:02d}1",
                f"{points_multiplier:.0f}x points on {label}",
                category,
                "points",
                points_multiplier,
                0.0,
                window_start,
                window_end,
                CARD_PRODUCTS,
            ),
            Offer(
                f"OFR-{cat_index:02d}2",
                f"{percent:.0f}% off {label}",
                category,
                "discount",
                percent,
                float(np.round(ticket * 0.8)),
                window_start,
                window_end,
                CARD_PRODUCTS,
            ),
            Offer(
                f"OFR-{cat_index:02d}3",
                f"${cashback:.0f} back when you spend ${min_spend_cash:.0f} on {label}",
                category,
                "cashback",
                cashback,
                min_spend_cash,
                window_start,
                window_end,
                CARD_PRODUCTS,
            ),
        ]
    # Limited-time and premium-only offers.
    offers += [
        Offer(
            "OFR-901",
            "5x points on flights booked this month",
            "travel",
            "points",
            5.0,
            0.0,
            window_start + span / 2,
            window_end,
            PREMIUM,
        ),
        Offer(
            "OFR-902",
            "25% off weekend dining",
            "dining",
            "discount",
            25.0,
            30.0,
            window_start,
            window_start + span / 2,
            CARD_PRODUCTS,
        ),
        Offer(
            "OFR-903",
            "$100 back on hotel stays over $500",
            "travel",
            "cashback",
            100.0,
            500.0,
            window_start,
            window_end,
            ("Platinum",),
        ),
        Offer(
            "OFR-904",
            "4x points at coffee shops",
            "coffee_shops",
            "points",
            4.0,
            0.0,
            window_start + span / 3,
            window_end,
            ("Gold", "Platinum"),
        ),
        Offer(
            "OFR-905",
            "$15 back on streaming bundles",
            "streaming",
            "cashback",
            15.0,
            30.0,
            window_start,
            window_end - span / 4,
            CARD_PRODUCTS,
        ),
        Offer(
            "OFR-906",
            "20% off concert tickets",
            "entertainment",
            "discount",
            20.0,
            40.0,
            window_start + span / 4,
            window_end,
            CARD_PRODUCTS,
        ),
    ]
    return offers
