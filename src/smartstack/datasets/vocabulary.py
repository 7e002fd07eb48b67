"""The words and facts explanations of one data set's offers may use.

An explanation names things (categories, merchants, offer types, card products), states numbers
read from the customer's feature row, and says what the ranking's reason codes mean. All of that
differs between data sets, and none of it may be guessed: the faithfulness check accepts a word
or a number only when the facts hold it. So each data set describes itself once, in a
:class:`Vocabulary` (``VOCABULARY`` in ``smartstack.datasets.<name>.vocabulary``, returned by
its adapter), and :mod:`smartstack.messaging` reads only that: the facts builder, the
templates, the faithfulness check, the prompt and the redactor work the same on every data set.

Plain frozen dataclasses and a few pure functions, so a vocabulary can be read (and reviewed)
without the messaging code. Feature names are patterns: ``{category}``, ``{days}`` and
``{offer_type}`` are filled in with the category, the window or the offer type a fact is about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

# How a number is stated: money, a percentage (the value is a fraction 0..1 where it is a
# feature's), a multiplier, a count; or not a number: a category (shown by its label) or text.
Unit = Literal["usd", "pct", "x", "n", "category", "text"]
# What a citable feature is evidence of; the template lets the ranking's strongest reason pick
# the angle its topic supports (spending habit, trend, quiz answer, offer-type taste or history,
# reach of the offer's minimum spend).
Topic = Literal["activity", "trend", "quiz", "taste", "history", "reach"]


_Named = TypeVar("_Named", "Category", "OfferType")


@dataclass(frozen=True)
class Category:
    """A merchant category as a customer reads it.

    ``words`` are regular expressions that name the category in text besides the label
    ("lattes?" names coffee shops): a text naming a category the facts are not about fails the
    faithfulness check. ``merchants`` are the category's merchant names: a text may name one
    only where the facts do (the offer headline, or the vocabulary's own ``merchant``).
    """

    name: str
    label: str
    place: bool = False  # a place ("at coffee shops") rather than a kind of spending ("on travel")
    words: tuple[str, ...] = ()
    merchants: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        """The label with its preposition: 'at coffee shops', 'on travel'."""
        return f"{'at' if self.place else 'on'} {self.label}"


@dataclass(frozen=True)
class OfferType:
    """One kind of offer and how its terms are stated.

    ``unit`` is how the offer's ``value`` is stated (a points multiplier "3x", percent off, USD
    back); None: the offer carries no reward (an informational offer), so no sentence may
    promise one. ``phrase`` names the offer inside a sentence and ``goal`` says what the customer
    has to do for the reward (None: the type has no spending goal worth stating); both are
    format strings over ``{headline}``, ``{value}``, ``{min_spend}`` and ``{days}`` (the offer's
    duration), money already written out.
    """

    name: str
    unit: Literal["x", "pct", "usd"] | None
    singular: str  # "BOGO offer"
    plural: str  # "BOGO offers"
    phrase: str = "{headline}"
    goal: str | None = None


@dataclass(frozen=True)
class Windows:
    """The two activity windows facts report, in days: a recent one and a longer one."""

    recent: int
    longer: int


@dataclass(frozen=True)
class FactFeatures:
    """The feature each fact is read from (None: the data set has no such fact).

    ``spend`` and ``txn_count`` take ``{category}`` and ``{days}`` (one of the windows);
    ``share`` (of all spend) and ``total_spend`` are over the longer window.
    """

    spend: str
    txn_count: str
    share: str | None = None
    total_spend: str | None = None
    days_since_last_txn: str | None = None
    card_product: str | None = None
    quiz_favourite_category: str | None = None


@dataclass(frozen=True)
class Trend:
    """A spending trend per category: the recent window's spend over the average spend per
    recent window of the period before. At ``cap`` (also the value for "no spend before, some
    now") the ratio is a floor, not a measurement; ``period`` names the recent window ("month")."""

    feature: str
    cap: float
    period: str


@dataclass(frozen=True)
class Tenure:
    """How long the customer has been a member, and the key the model reads it under."""

    feature: str
    key: str  # "months_as_card_member"


@dataclass(frozen=True)
class TypeTaste:
    """A taste for one offer type over the others: the share of the customer's redeemed offers
    (over ``days``) that were of ``offer_type``, and a stated preference for it (a quiz answer,
    true or false), with the words that say either way."""

    feature: str
    offer_type: str
    days: int
    many: str  # "points offers"
    one: str  # "a points offer"
    others_many: str  # "discounts or cashback"
    others_one: str  # "a discount or cashback"
    key: str  # the model's key for the share
    stated_feature: str | None = None
    stated_yes: str = ""  # the sentence when they said they prefer it
    stated_no: str = ""  # the sentence when they said they do not
    stated_words: tuple[str, str] = ("", "")  # what they prefer, yes and no, for the model


@dataclass(frozen=True)
class TypeHistory:
    """How the customer responded to earlier offers of a type: features over ``{offer_type}``."""

    received: str
    viewed: str
    completed: str


@dataclass(frozen=True)
class Citable:
    """What a feature an explanation may cite means in words, how its value is stated, what it is
    evidence of (None: a profile value that leads no angle) and the category it is about."""

    meaning: str
    unit: Unit = "n"
    topic: Topic | None = None
    category: str | None = None
    cap: float | None = None  # a ratio at or over the cap is a floor, not a fact


@dataclass(frozen=True, eq=False)  # one per data set, compared (and cached on) by identity
class Vocabulary:
    """Everything explanations of one data set's offers may say, and where each fact comes from."""

    name: str
    offer_noun: str  # what an offer is, for the model: "credit-card offer"
    account: str  # what the customer holds: "card" ("your Gold card")
    categories: Mapping[str, Category]
    offer_types: Mapping[str, OfferType]
    windows: Windows
    window_numbers: tuple[float, ...]  # windows texts may always name ("30 days", "3 months")
    features: FactFeatures
    citable: Mapping[str, Citable]
    card_products: tuple[str, ...] = ()
    merchant: str | None = None  # the one merchant every offer is at, which texts may name
    trend: Trend | None = None
    tenure: Tenure | None = None
    taste: TypeTaste | None = None
    history: TypeHistory | None = None

    def category(self, name: str) -> Category:
        return self.categories[name]

    def offer_type(self, name: str) -> OfferType:
        return self.offer_types[name]

    def describe(self, feature: str) -> str | None:
        """What a feature means in words, or None if it is not one an explanation may cite."""
        cited = self.citable.get(feature)
        return cited.meaning if cited else None

    @property
    def merchants(self) -> tuple[str, ...]:
        """Every merchant name the data set knows, its own merchant first."""
        named = [self.merchant] if self.merchant else []
        named += [m for c in self.categories.values() for m in c.merchants]
        return tuple(dict.fromkeys(named))


def by_name(items: tuple[_Named, ...]) -> dict[str, _Named]:
    """Categories or offer types keyed by their name, in the given order."""
    return {item.name: item for item in items}
