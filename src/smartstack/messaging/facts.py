"""The facts an explanation may use, and nothing else.

An explanation is only as trustworthy as its inputs. `ExplanationFacts` is a closed, typed list:
the offer, the customer's activity in the offer's category (and in their biggest category), a
few profile values, their history with offers of the offer's type, and the ranking's top reason
codes. The builder reads the features the data set's `Vocabulary` names from a feature row and
ignores every other key, so a row that happens to carry a name or an e-mail cannot leak into a
prompt: privacy holds by construction, and redaction is the second line.

Facts are the same shape on every data set; the vocabulary says which feature each is read from
(a fact the data set lacks stays empty) and the windows activity is reported over. Shares are
fractions 0..1; a trend is the recent window's spend over its average before, null without any
spend, 0 when spending stopped, and capped (the cap is also the value when there was no spend
before but there is now): at the cap the ratio is a floor, not a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    computed_field,
    field_validator,
)

from smartstack.datasets.vocabulary import Citable, Topic, Unit, Vocabulary

# Thresholds at which a change in spending is worth telling a customer about.
TREND_UP = 1.5
TREND_DOWN = 0.67
MAX_REASONS = 3

TrendLabel = Literal["none", "stopped", "down", "steady", "up", "surge"]
FeatureValue = float | int | str | bool | None


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


def _vocabulary(info: ValidationInfo) -> Vocabulary | None:
    """The vocabulary `build_facts` validates against (none when facts are copied or built by
    hand: they are trusted as given)."""
    return (info.context or {}).get("vocabulary")


class OfferFacts(_Frozen):
    """The offer as the customer sees it."""

    offer_id: str
    headline: str
    category: str
    offer_type: str
    value: float = Field(description="in the offer type's unit: multiplier, percent or USD")
    min_spend: float = 0.0
    duration_days: float | None = Field(None, description="days to use it once received")

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str, info: ValidationInfo) -> str:
        vocabulary = _vocabulary(info)
        if vocabulary is not None and value not in vocabulary.categories:
            raise ValueError(f"unknown merchant category {value!r}")
        return value

    @field_validator("offer_type")
    @classmethod
    def _known_type(cls, value: str, info: ValidationInfo) -> str:
        vocabulary = _vocabulary(info)
        if vocabulary is not None and value not in vocabulary.offer_types:
            raise ValueError(f"unknown offer type {value!r}")
        return value


class Window(_Frozen):
    """Purchases in one category over the last ``days`` days."""

    days: int
    spend: float = 0.0
    txn_count: int = 0


class CategoryActivity(_Frozen):
    """How the customer spends in one merchant category, over a recent and a longer window."""

    category: str
    recent: Window
    longer: Window
    share: float | None = Field(
        None, ge=0.0, le=1.0, description="of all spend, over the longer window"
    )
    trend: float | None = None
    trend_cap: float | None = Field(None, description="the data set's cap on the trend ratio")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def trend_label(self) -> TrendLabel:
        """The trend in words; 'surge' means new or at least the cap times the usual."""
        t = self.trend
        if t is None:
            return "none"
        if t <= 0:
            return "stopped"
        if self.trend_cap is not None and t >= self.trend_cap:
            return "surge"
        if t >= TREND_UP:
            return "up"
        return "down" if t <= TREND_DOWN else "steady"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def prior_average(self) -> float | None:
        """Average spend per recent window before it, where the trend measures it."""
        t = self.trend
        if t is None or t <= 0 or (self.trend_cap is not None and t >= self.trend_cap):
            return None
        return round(self.recent.spend / t, 2)


class OfferHistory(_Frozen):
    """Earlier offers of the offer's type: how many the customer received, viewed, completed."""

    offer_type: str
    received: int
    viewed: int = 0
    completed: int = 0


class ReasonCode(_Frozen):
    """One ranking reason: a model feature, its contribution, the customer's value of it, and
    what the vocabulary says it means (how the value is stated, what it is evidence of)."""

    feature: str
    contribution: float
    value: FeatureValue = None
    meaning: str
    unit: Unit = "n"
    topic: Topic | None = None
    category: str | None = None


class ExplanationFacts(_Frozen):
    """Everything an explanation of one offer for one customer may state."""

    customer_id: str
    feature_version: str
    offer: OfferFacts
    offer_category: CategoryActivity
    top_category: CategoryActivity | None = Field(
        None, description="the customer's biggest category by share, if not the offer's"
    )
    total_spend: float = Field(0.0, description="in every category, over the longer window")
    days_since_last_txn: int | None = None
    card_product: str | None = Field(None, description="one of the card products, else None")
    tenure: int | None = Field(None, description="membership, in the vocabulary's unit")
    redeemed_type_share: float | None = Field(
        None, ge=0.0, le=1.0, description="redeemed offers of the vocabulary's taste type"
    )
    quiz_favourite_category: str | None = None
    quiz_prefers_type: bool | None = Field(
        None, description="said they prefer the vocabulary's taste type (or not)"
    )
    offer_history: OfferHistory | None = None
    reason_codes: tuple[ReasonCode, ...] = ()

    @property
    def is_cold_start(self) -> bool:
        """No purchases at all over the longer window: nothing about spending can be said."""
        return self.total_spend <= 0

    @property
    def quiz_picked_offer_category(self) -> bool:
        return self.quiz_favourite_category == self.offer.category

    def mentioned_categories(self) -> set[str]:
        """Categories these facts are about; an explanation may name these and no others."""
        cats = {self.offer.category}
        if self.top_category:
            cats.add(self.top_category.category)
        if self.quiz_favourite_category:
            cats.add(self.quiz_favourite_category)
        cats.update(r.category for r in self.reason_codes if r.category)
        return cats


def _number(features: Mapping[str, Any], name: str | None) -> float | None:
    value = _clean(features.get(name)) if name else None
    return float(value) if isinstance(value, int | float) else None


def _activity(
    vocabulary: Vocabulary, features: Mapping[str, Any], category: str
) -> CategoryActivity:
    names = vocabulary.features

    def window(days: int) -> Window:
        def num(pattern: str) -> float:
            return _number(features, pattern.format(category=category, days=days)) or 0.0

        return Window(days=days, spend=num(names.spend), txn_count=int(num(names.txn_count)))

    longer = vocabulary.windows.longer
    share = None
    if names.share:
        share = min(max(_number(features, _share(vocabulary, category)) or 0.0, 0.0), 1.0)
    trend = vocabulary.trend
    return CategoryActivity(
        category=category,
        recent=window(vocabulary.windows.recent),
        longer=window(longer),
        share=share,
        trend=_number(features, trend.feature.format(category=category)) if trend else None,
        trend_cap=trend.cap if trend else None,
    )


def _share(vocabulary: Vocabulary, category: str) -> str | None:
    pattern = vocabulary.features.share
    days = vocabulary.windows.longer
    return pattern.format(category=category, days=days) if pattern else None


def _top_category(
    vocabulary: Vocabulary, features: Mapping[str, Any], offer_category: str
) -> str | None:
    """The category with the biggest share of spend, where the data set has shares and it is
    not the offer's own."""
    if vocabulary.features.share is None:
        return None
    shares = {c: _number(features, _share(vocabulary, c)) or 0.0 for c in vocabulary.categories}
    top = max(shares, key=shares.__getitem__)
    return top if shares[top] > 0 and top != offer_category else None


def _history(
    vocabulary: Vocabulary, features: Mapping[str, Any], offer_type: str
) -> OfferHistory | None:
    """Earlier offers of this type, where the data set records them and there were some."""
    spec = vocabulary.history
    if spec is None:
        return None

    def count(pattern: str) -> int:
        return int(_number(features, pattern.format(offer_type=offer_type)) or 0)

    received = count(spec.received)
    if received <= 0:
        return None
    return OfferHistory(
        offer_type=offer_type,
        received=received,
        viewed=count(spec.viewed),
        completed=count(spec.completed),
    )


def _reason(name: str, weight: float, value: FeatureValue, cited: Citable) -> ReasonCode:
    if cited.unit == "x" and isinstance(value, int | float) and not isinstance(value, bool):
        cap = cited.cap if cited.cap is not None else math.inf
        if not 0 < value < cap:  # at the cap (or stopped) the ratio is no number to state
            value = None
    return ReasonCode(
        feature=name,
        contribution=float(weight),
        value=value,
        meaning=cited.meaning,
        unit=cited.unit,
        topic=cited.topic,
        category=cited.category,
    )


def _reasons(
    vocabulary: Vocabulary,
    features: Mapping[str, Any],
    reason_codes: Sequence[tuple[str, float]],
    limit: int,
) -> tuple[ReasonCode, ...]:
    """The strongest positive reasons that name a feature an explanation may cite."""
    usable = [
        _reason(name, weight, _clean(features.get(name)), cited)
        for name, weight in reason_codes
        if weight > 0 and (cited := vocabulary.citable.get(name)) is not None
    ]
    return tuple(sorted(usable, key=lambda r: r.contribution, reverse=True)[:limit])


def build_facts(
    features: Mapping[str, Any],
    offer: Mapping[str, Any],
    reason_codes: Sequence[tuple[str, float]],
    feature_version: str,
    vocabulary: Vocabulary,
    *,
    max_reasons: int = MAX_REASONS,
) -> ExplanationFacts:
    """Pick the facts relevant to one offer from a customer's feature row.

    `features` is one row of the data set's customer feature views joined on `customer_id`;
    `offer` the offer's catalogue terms (`offer_id`, `headline`, `merchant_category`,
    `offer_type`, `value`, `min_spend`, optionally `duration_days`); `reason_codes` the
    ranking's (feature name, contribution) pairs. Only the features `vocabulary` names are read;
    an offer in a category or of a type the vocabulary does not know is refused.
    """
    duration = _clean(offer.get("duration_days"))
    offer_facts = OfferFacts.model_validate(
        {
            "offer_id": str(offer["offer_id"]),
            "headline": str(offer["headline"]),
            "category": str(offer["merchant_category"]),
            "offer_type": str(offer["offer_type"]),
            "value": float(offer["value"]),
            "min_spend": float(_clean(offer.get("min_spend")) or 0.0),
            "duration_days": float(duration) if isinstance(duration, int | float) else None,
        },
        context={"vocabulary": vocabulary},
    )
    names = vocabulary.features
    top = _top_category(vocabulary, features, offer_facts.category)
    total = names.total_spend.format(days=vocabulary.windows.longer) if names.total_spend else None
    days = _number(features, names.days_since_last_txn)
    tenure = _number(features, vocabulary.tenure.feature if vocabulary.tenure else None)
    card = _clean(features.get(names.card_product)) if names.card_product else None
    favourite = (
        _clean(features.get(names.quiz_favourite_category))
        if names.quiz_favourite_category
        else None
    )
    taste = vocabulary.taste
    share = _number(features, taste.feature) if taste else None
    stated = _clean(features.get(taste.stated_feature)) if taste and taste.stated_feature else None
    return ExplanationFacts(
        customer_id=str(features["customer_id"]),
        feature_version=feature_version,
        offer=offer_facts,
        offer_category=_activity(vocabulary, features, offer_facts.category),
        top_category=_activity(vocabulary, features, top) if top else None,
        total_spend=_number(features, total) or 0.0,
        days_since_last_txn=int(days) if days is not None else None,
        card_product=str(card) if card in vocabulary.card_products else None,
        tenure=int(tenure) if tenure is not None else None,
        redeemed_type_share=share,
        quiz_favourite_category=str(favourite) if favourite in vocabulary.categories else None,
        quiz_prefers_type=bool(stated) if stated is not None else None,
        offer_history=_history(vocabulary, features, offer_facts.offer_type),
        reason_codes=_reasons(vocabulary, features, reason_codes, max_reasons),
    )
