"""The facts an explanation may use, and nothing else.

An explanation is only as trustworthy as its inputs. `ExplanationFacts` is a closed, typed list:
the offer, the customer's activity in the offer's category (and in their biggest category), a
few profile values, and the ranking's top reason codes. The builder reads named features from a
feature row and ignores every other key, so a row that happens to carry a name or an e-mail
cannot leak into a prompt: privacy holds by construction, and redaction is the second line.

Feature conventions follow the dbt marts (`customer_spend_features`, `customer_profile_features`):
shares are fractions 0..1; `trend_<c>` is the last 30 days' spend over the monthly average of the
90 days before, null without any spend in 120 days, 0 when spending stopped, and capped at
`TREND_CAP` (also the value when there was no spend before but there is now).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from smartstack.data.catalog import category_label
from smartstack.data.schema import CARD_PRODUCTS, MERCHANT_CATEGORIES

# dbt var `trend_cap` (dbt_project.yml): at the cap the ratio is a floor, not a measurement.
TREND_CAP = 10.0
# Thresholds at which a change in spending is worth telling a customer about.
TREND_UP = 1.5
TREND_DOWN = 0.67
MAX_REASONS = 3

TrendLabel = Literal["none", "stopped", "down", "steady", "up", "surge"]
FeatureValue = float | int | str | bool | None

_CATS = "|".join(MERCHANT_CATEGORIES)
_WINDOWED = re.compile(
    rf"^(?P<family>spend|txn_count|share)_(?P<category>{_CATS})_(?P<w>7|30|90)d$"
)
_TREND = re.compile(rf"^trend_(?P<category>{_CATS})$")
# Customer-level features a reason code may name, with what they mean to a person.
_PROFILE_FEATURES = {
    "days_since_last_txn": "days since the customer's last purchase",
    "spend_90d": "total spend in the last 90 days (USD)",
    "avg_ticket_90d": "average purchase in the last 90 days (USD)",
    "card_product": "the customer's card",
    "tenure_months": "months as a card member",
    "points_redemption_share": "share of redeemed offers that were points offers",
    "quiz_favourite_category": "favourite category picked in the preferences quiz",
    "quiz_prefers_rewards": "said in the quiz they prefer points rewards over discounts",
}
_FAMILY_MEANING = {
    "spend": "spend on {label} in the last {w} days (USD)",
    "txn_count": "purchases at {label} in the last {w} days",
    "share": "share of all spend that went to {label} in the last {w} days",
}


@functools.cache  # a few hundred feature names; called for every reason code of every ranking
def describe_feature(name: str) -> str | None:
    """What a model feature means in words, or None if it is not one an explanation may cite."""
    if match := _WINDOWED.match(name):
        label = category_label(match["category"])
        return _FAMILY_MEANING[match["family"]].format(label=label, w=match["w"])
    if match := _TREND.match(name):
        label = category_label(match["category"])
        return f"{label}: last 30 days' spend vs the monthly average of the 90 days before"
    return _PROFILE_FEATURES.get(name)


@functools.cache
def feature_category(name: str) -> str | None:
    """The merchant category a windowed or trend feature is about, if any."""
    match = _WINDOWED.match(name) or _TREND.match(name)
    return match["category"] if match else None


def _clean(value: Any) -> FeatureValue:
    """Feature values as plain Python, with NaN (Parquet/pandas null) as None."""
    if value is None:
        return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OfferFacts(_Frozen):
    """The offer as the customer sees it."""

    offer_id: str
    headline: str
    category: str
    offer_type: Literal["points", "discount", "cashback"]
    value: float = Field(description="points multiplier, percent off, or USD back")
    min_spend: float = 0.0

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in MERCHANT_CATEGORIES:
            raise ValueError(f"unknown merchant category {value!r}")
        return value

    @property
    def category_label(self) -> str:
        return category_label(self.category)


class CategoryActivity(_Frozen):
    """How the customer spends in one merchant category."""

    category: str
    spend_30d: float = 0.0
    spend_90d: float = 0.0
    txn_count_30d: int = 0
    txn_count_90d: int = 0
    share_90d: float = Field(0.0, ge=0.0, le=1.0)
    trend: float | None = None

    @property
    def label(self) -> str:
        return category_label(self.category)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def trend_label(self) -> TrendLabel:
        """The trend in words; 'surge' means new or at least `TREND_CAP` times the usual."""
        t = self.trend
        if t is None:
            return "none"
        if t <= 0:
            return "stopped"
        if t >= TREND_CAP:
            return "surge"
        if t >= TREND_UP:
            return "up"
        return "down" if t <= TREND_DOWN else "steady"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def prior_monthly_avg(self) -> float | None:
        """Monthly average spend of the 90 days before the last 30, where the trend measures it."""
        if self.trend is None or not 0 < self.trend < TREND_CAP:
            return None
        return round(self.spend_30d / self.trend, 2)


class ReasonCode(_Frozen):
    """One ranking reason: a model feature, its contribution and the customer's value of it."""

    feature: str
    contribution: float
    value: FeatureValue = None

    @property
    def meaning(self) -> str:
        return describe_feature(self.feature) or self.feature


class ExplanationFacts(_Frozen):
    """Everything an explanation of one offer for one customer may state."""

    customer_id: str
    feature_version: str
    offer: OfferFacts
    offer_category: CategoryActivity
    top_category: CategoryActivity | None = Field(
        None, description="the customer's biggest category by 90-day share, if not the offer's"
    )
    total_spend_90d: float = 0.0
    days_since_last_txn: int | None = None
    card_product: str | None = Field(None, description="one of the card products, else None")
    tenure_months: int | None = None
    points_redemption_share: float | None = Field(None, ge=0.0, le=1.0)
    quiz_favourite_category: str | None = None
    quiz_prefers_rewards: bool | None = None
    reason_codes: tuple[ReasonCode, ...] = ()

    @property
    def is_cold_start(self) -> bool:
        """No purchases at all in 90 days: nothing about spending can be said."""
        return self.total_spend_90d <= 0

    @property
    def quiz_picked_offer_category(self) -> bool:
        return self.quiz_favourite_category == self.offer.category

    def mentioned_categories(self) -> set[str]:
        """Categories these facts are about; an explanation may name these and no others."""
        cats = {self.offer.category}
        if self.top_category:
            cats.add(self.top_category.category)
        if self.quiz_favourite_category in MERCHANT_CATEGORIES:
            cats.add(self.quiz_favourite_category)
        cats.update(c for r in self.reason_codes if (c := feature_category(r.feature)))
        return cats


def _activity(features: Mapping[str, Any], category: str) -> CategoryActivity:
    def num(name: str) -> float:
        value = _clean(features.get(name))
        return float(value) if isinstance(value, int | float) else 0.0

    trend = _clean(features.get(f"trend_{category}"))
    return CategoryActivity(
        category=category,
        spend_30d=num(f"spend_{category}_30d"),
        spend_90d=num(f"spend_{category}_90d"),
        txn_count_30d=int(num(f"txn_count_{category}_30d")),
        txn_count_90d=int(num(f"txn_count_{category}_90d")),
        share_90d=min(max(num(f"share_{category}_90d"), 0.0), 1.0),
        trend=float(trend) if isinstance(trend, int | float) else None,
    )


def _reasons(
    features: Mapping[str, Any], reason_codes: Sequence[tuple[str, float]], limit: int
) -> tuple[ReasonCode, ...]:
    """The strongest positive reasons that name a feature an explanation may cite."""
    usable = [
        ReasonCode(feature=name, contribution=float(weight), value=_clean(features.get(name)))
        for name, weight in reason_codes
        if weight > 0 and describe_feature(name) is not None
    ]
    return tuple(sorted(usable, key=lambda r: r.contribution, reverse=True)[:limit])


def build_facts(
    features: Mapping[str, Any],
    offer: Mapping[str, Any],
    reason_codes: Sequence[tuple[str, float]],
    feature_version: str,
    *,
    max_reasons: int = MAX_REASONS,
) -> ExplanationFacts:
    """Pick the facts relevant to one offer from a customer's feature row.

    `features` is one row of the customer feature tables joined on `customer_id` (spend and
    profile features); `offer` a row of the offers table (`offer_id`, `headline`,
    `merchant_category`, `offer_type`, `value`, `min_spend`); `reason_codes` the ranking's
    (feature name, contribution) pairs. Keys not named here are never read.
    """
    offer_facts = OfferFacts(
        offer_id=str(offer["offer_id"]),
        headline=str(offer["headline"]),
        category=str(offer["merchant_category"]),
        offer_type=str(offer["offer_type"]),  # type: ignore[arg-type]
        value=float(offer["value"]),
        min_spend=float(_clean(offer.get("min_spend")) or 0.0),
    )
    shares = {c: _clean(features.get(f"share_{c}_90d")) for c in MERCHANT_CATEGORIES}
    top = max(MERCHANT_CATEGORIES, key=lambda c: float(shares[c] or 0.0))
    has_top = float(shares[top] or 0.0) > 0 and top != offer_facts.category
    days = _clean(features.get("days_since_last_txn"))
    tenure = _clean(features.get("tenure_months"))
    points_share = _clean(features.get("points_redemption_share"))
    favourite = _clean(features.get("quiz_favourite_category"))
    prefers = _clean(features.get("quiz_prefers_rewards"))
    card = _clean(features.get("card_product"))
    return ExplanationFacts(
        customer_id=str(features["customer_id"]),
        feature_version=feature_version,
        offer=offer_facts,
        offer_category=_activity(features, offer_facts.category),
        top_category=_activity(features, top) if has_top else None,
        total_spend_90d=float(_clean(features.get("spend_90d")) or 0.0),
        days_since_last_txn=int(days) if isinstance(days, int | float) else None,
        card_product=str(card) if card in CARD_PRODUCTS else None,
        tenure_months=int(tenure) if isinstance(tenure, int | float) else None,
        points_redemption_share=float(points_share) if points_share is not None else None,
        quiz_favourite_category=str(favourite) if favourite in MERCHANT_CATEGORIES else None,
        quiz_prefers_rewards=bool(prefers) if prefers is not None else None,
        reason_codes=_reasons(features, reason_codes, max_reasons),
    )
