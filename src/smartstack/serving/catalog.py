"""The offer catalogue as serving needs it: validity, eligibility, popularity, category.

Built from the data set's catalogue view and popularity feature, read through Feast
(:func:`smartstack.featurestore.catalogue.catalogue_frame`) when the service loads or reloads its
state, and then held in memory: the fallback tiers that need it keep working when the online
store is down.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from feast import FeatureStore

from smartstack.datasets.adapter import DatasetAdapter
from smartstack.datasets.vocabulary import Vocabulary
from smartstack.featurestore.catalogue import catalogue_frame, materializations
from smartstack.messaging.templates import terms_usd, times
from smartstack.serving.schemas import OfferCard

# What the customer is offered, as explanations quote it (catalogue column -> term).
OFFER_TERMS = {
    "offer_id": "offer_id",
    "headline": "headline",
    "merchant_category": "merchant_category",
    "offer_type": "offer_type",
    "offer_value": "value",
    "min_spend": "min_spend",
    "duration_days": "duration_days",
}


@dataclass(frozen=True)
class Offer:
    offer_id: str
    merchant_category: str
    valid_from: datetime
    valid_to: datetime | None  # None: no end (offers valid for a window per receipt)
    card_products: frozenset[str] | None  # None: open to every card product
    popularity: float  # smoothed redemption rate; 0 when unknown
    # What the customer is offered (headline, type, value, minimum spend): explanations' facts.
    terms: Mapping[str, Any] = field(default_factory=dict, compare=False)


class UnknownOffers(ValueError):
    """Candidate offer ids that are not in the catalogue."""

    def __init__(self, offer_ids: list[str]) -> None:
        super().__init__(f"unknown offer ids: {', '.join(offer_ids)}")
        self.offer_ids = offer_ids


class OfferCatalog:
    def __init__(
        self,
        offers: Iterable[Offer],
        card_products: Iterable[str] = (),
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self._offers = {o.offer_id: o for o in offers}
        # Built once per catalogue load: every response quotes them as they are.
        self.cards = {o.offer_id: offer_card(o, vocabulary) for o in self._offers.values()}
        # Every card product of the data set: an offer listing them all is open to all.
        self._all_cards = frozenset(card_products)
        # Most popular first; the id breaks ties so the order is stable.
        self.by_popularity: list[str] = sorted(
            self._offers, key=lambda o: (-self._offers[o].popularity, o)
        )

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        card_products: Iterable[str] = (),
        vocabulary: Vocabulary | None = None,
    ) -> OfferCatalog:
        """From the catalogue rows Feast returns (``catalogue_frame``): one per offer."""
        return cls(
            (
                Offer(
                    offer_id=row["offer_id"],
                    merchant_category=row["merchant_category"],
                    valid_from=_moment(row["valid_from"]),
                    valid_to=None if pd.isna(row["valid_to"]) else _moment(row["valid_to"]),
                    card_products=_card_products(row["eligible_card_products"]),
                    popularity=float(row["popularity"]),
                    terms={
                        term: None if _missing(row[column]) else row[column]
                        for column, term in OFFER_TERMS.items()
                    },
                )
                for row in frame.to_dict("records")
            ),
            card_products,
            vocabulary,
        )

    def __len__(self) -> int:
        return len(self._offers)

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
        return [o for o in offer_ids if self._open_to(self._offers[o].card_products, card_product)]

    def _open_to(self, cards: frozenset[str] | None, card_product: str | None) -> bool:
        if cards is None or (self._all_cards and cards >= self._all_cards):
            return True
        return card_product is not None and card_product in cards

    def popular(self, offer_ids: Iterable[str]) -> list[str]:
        wanted = set(offer_ids)
        return [o for o in self.by_popularity if o in wanted]


def offer_card(offer: Offer, vocabulary: Vocabulary | None) -> OfferCard:
    """The offer in the data set's words (its own names where no vocabulary says more)."""
    terms = offer.terms
    category = offer.merchant_category
    kind = str(terms.get("offer_type") or "")
    label, noun, unit = category, kind.replace("_", " "), None
    if vocabulary is not None:
        if category in vocabulary.categories:
            label = vocabulary.category(category).label
        if kind in vocabulary.offer_types:
            offer_type = vocabulary.offer_type(kind)
            noun, unit = offer_type.singular, offer_type.unit
    value = terms.get("value")
    min_spend = terms.get("min_spend")
    return OfferCard.model_construct(
        headline=str(terms.get("headline") or f"{noun} {offer.offer_id}"),
        category=label,
        offer_type=noun,
        value=_stated_value(float(value), unit) if value is not None and unit else None,
        min_spend=float(min_spend) if min_spend else None,
        valid_to=offer.valid_to,
    )


def _stated_value(value: float, unit: str) -> str:
    if unit == "x":
        return f"{times(value)} points"
    if unit == "pct":
        return f"{value:g}% off"
    return terms_usd(value)


def _card_products(listed: str | None) -> frozenset[str] | None:
    """The card products an offer is open to; None (a source without card products) restricts
    nobody."""
    if _missing(listed):
        return None
    return frozenset(p.strip() for p in listed.split(","))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _moment(value: Any) -> datetime:
    """A catalogue time as an aware UTC datetime (Feast hands back pandas timestamps)."""
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).to_pydatetime()


class FeastCatalogue:
    """The data set's catalogue as the feature store has it (see
    :mod:`smartstack.featurestore.catalogue`)."""

    def __init__(self, store: FeatureStore, dataset: DatasetAdapter) -> None:
        self._store = store
        self._dataset = dataset

    def materializations(self) -> tuple[datetime, ...]:
        return materializations(self._store, self._dataset.catalogue_views)

    def load(self) -> OfferCatalog:
        frame = catalogue_frame(self._store, self._dataset)
        return OfferCatalog.from_frame(frame, self._dataset.card_products, self._dataset.vocabulary)
