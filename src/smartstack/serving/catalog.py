"""The offer catalogue as serving needs it: validity, eligibility, popularity, category.

Loaded once at start from the raw offers table (the source of truth for terms and eligibility)
and the dbt offer features (for popularity). It never touches the online store, so the fallback
tiers that need it keep working when the store is down.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from smartstack.data.schema import CARD_PRODUCTS
from smartstack.settings import Settings

ALL_CARD_PRODUCTS = frozenset(CARD_PRODUCTS)
# Where each data set's offer popularity comes from: dbt offer mart -> smoothed rate column.
POPULARITY_SOURCES = {
    "offer_features": "redemption_rate_smoothed",
    "starbucks_offer_features": "success_rate_smoothed",
}
OFFER_TERMS = ("offer_id", "headline", "merchant_category", "offer_type", "value", "min_spend")


@dataclass(frozen=True)
class Offer:
    offer_id: str
    merchant_category: str
    valid_from: datetime
    valid_to: datetime | None  # None: no end (Starbucks offers, valid for a window per receipt)
    card_products: frozenset[str]  # every product when the source names none
    popularity: float  # smoothed redemption rate; 0 when unknown
    # What the customer is offered (headline, type, value, minimum spend): explanations' facts.
    terms: Mapping[str, Any] = field(default_factory=dict, compare=False)


class UnknownOffers(ValueError):
    """Candidate offer ids that are not in the catalogue."""

    def __init__(self, offer_ids: list[str]) -> None:
        super().__init__(f"unknown offer ids: {', '.join(offer_ids)}")
        self.offer_ids = offer_ids


class OfferCatalog:
    def __init__(self, offers: Iterable[Offer]) -> None:
        self._offers = {o.offer_id: o for o in offers}
        # Most popular first; the id breaks ties so the order is stable.
        self.by_popularity: list[str] = sorted(
            self._offers, key=lambda o: (-self._offers[o].popularity, o)
        )

    @classmethod
    def load(cls, settings: Settings) -> OfferCatalog:
        assert settings.data_dir is not None
        raw = pd.read_parquet(settings.raw_dir / "offers")
        popularity: dict[str, float] = {}
        for mart, rate in POPULARITY_SOURCES.items():
            stats = settings.data_dir / "features" / f"{mart}.parquet"
            if not stats.exists():
                continue
            frame = pd.read_parquet(stats, columns=["offer_id", "event_timestamp", rate])
            latest = frame.sort_values("event_timestamp").groupby("offer_id").last()
            popularity = latest[rate].fillna(0.0).astype(float).to_dict()
            break
        return cls(
            Offer(
                offer_id=row.offer_id,
                merchant_category=row.merchant_category,
                valid_from=row.valid_from.to_pydatetime(),
                valid_to=None if pd.isna(row.valid_to) else row.valid_to.to_pydatetime(),
                card_products=_card_products(row.eligible_card_products),
                popularity=popularity.get(row.offer_id, 0.0),
                terms={name: getattr(row, name) for name in OFFER_TERMS},
            )
            for row in raw.itertuples(index=False)
        )

    @property
    def ids(self) -> list[str]:
        return list(self._offers)

    def __getitem__(self, offer_id: str) -> Offer:
        return self._offers[offer_id]

    def check_known(self, offer_ids: Sequence[str]) -> None:
        unknown = [o for o in offer_ids if o not in self._offers]
        if unknown:
            raise UnknownOffers(unknown)

    def valid_at(self, offer_ids: Sequence[str], at: datetime) -> list[str]:
        return [
            o
            for o in offer_ids
            if self._offers[o].valid_from <= at
            and (self._offers[o].valid_to is None or at <= self._offers[o].valid_to)
        ]

    def eligible(self, offer_ids: Sequence[str], card_product: str | None) -> list[str]:
        """Offers the card product may receive; with no known product, only offers open to all."""
        if card_product is None:
            return [o for o in offer_ids if self._offers[o].card_products >= ALL_CARD_PRODUCTS]
        return [o for o in offer_ids if card_product in self._offers[o].card_products]

    def popular(self, offer_ids: Iterable[str]) -> list[str]:
        wanted = set(offer_ids)
        return [o for o in self.by_popularity if o in wanted]


def _card_products(listed: str | None) -> frozenset[str]:
    """The card products an offer is open to; a source without card products (Starbucks)
    restricts nobody."""
    if listed is None:
        return ALL_CARD_PRODUCTS
    return frozenset(p.strip() for p in listed.split(","))
