"""Does a piece of text state only what the facts say?

An LLM writes fluent text and sometimes invents a number ("you spent $120") or a place ("at
Starbucks"). Before LLM text is shown, every number (money, percentages, multipliers such as
"3x" or "twice", counts), every merchant category, every merchant name and every other proper
name it states must match the facts; numbers may be rounded to the precision the text shows.
Anything else fails the check, and the explainer falls back to the template text.

The check is deliberately strict: a true but derived number ("10% of $67 is $6.70") fails too,
because the cost of a rejected good sentence is a template sentence, while the cost of a shown
wrong number is a customer's trust.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from smartstack.data.catalog import CATEGORIES, category_label
from smartstack.messaging.facts import (
    TREND_CAP,
    CategoryActivity,
    ExplanationFacts,
    ReasonCode,
)

Unit = Literal["usd", "pct", "x", "n"]

# Windows the features are computed over; text may always name them ("30 days", "3 months").
WINDOW_NUMBERS = (1.0, 3.0, 7.0, 30.0, 90.0)

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "twenty": 20,
    "thirty": 30,
    "sixty": 60,
    "ninety": 90,
}
_NUM = r"\d[\d,]*(?:\.\d+)?"
_WORDS = "|".join(_NUMBER_WORDS)
# One pass, first alternative wins; every group name says the unit.
_QUANTITY = re.compile(
    rf"(?:\$|\bUSD\s?)(?P<usd>{_NUM})(?P<k>k\b)?"
    rf"|(?P<usd2>{_NUM})\s?(?:dollars|USD)\b"
    rf"|(?P<pct>{_NUM})\s?(?:%|percent\b|per cent\b)"
    rf"|(?P<x>{_NUM})\s?(?:x|×)(?!\w)|(?P<x2>{_NUM})\s+times\b"
    rf"|\b(?P<xw>{_WORDS})(?:\s+times\b|-fold\b)"
    r"|\b(?P<twice>twice|double[ds]?|doubling)\b|\b(?P<thrice>triple[ds]?|tripling)\b"
    rf"|(?<![\w.])(?P<n>{_NUM})(?!\w)"
    rf"|\b(?P<nw>{_WORDS})\b",
    re.IGNORECASE,
)

# Words that name a merchant category, beyond its customer-facing label.
_CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
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
_CATEGORY_PATTERNS = {
    c: re.compile(r"\b(?:" + "|".join(words) + r")\b", re.IGNORECASE)
    for c, words in _CATEGORY_WORDS.items()
}
_MERCHANTS = {m.lower(): m for spec in CATEGORIES.values() for m in spec.merchants}
_MERCHANT = re.compile(
    r"\b(?:" + "|".join(re.escape(m) for m in sorted(_MERCHANTS, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
# Capitalised words that need no fact behind them.
_COMMON_CAPITALS = {"i", "points", "cashback", "usd"}
_CAPITALISED = re.compile(r"\b[A-Z][a-zA-Z'&-]*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;—–(\"“'-])\s*$")


@dataclass(frozen=True)
class Quantity:
    """A number with its unit and how far off it may be and still count as the same number."""

    value: float
    unit: Unit
    tolerance: float = 1e-9
    text: str = ""

    def matches(self, fact: Quantity) -> bool:
        """Whether this stated number is the fact, rounded; bare numbers may be of any unit."""
        if self.unit != "n" and self.unit != fact.unit:
            return False
        return abs(self.value - fact.value) <= self.tolerance + 1e-9


def _rounding(number: str, scale: float = 1.0) -> float:
    """Half a unit of the last digit shown: '$42' covers 41.5..42.5, '2.4x' 2.35..2.45."""
    decimals = len(number.split(".")[1]) if "." in number else 0
    return 0.5 * 10**-decimals * scale


def extract_quantities(text: str) -> list[Quantity]:
    """Every number the text states, with its unit."""
    found = []
    for m in _QUANTITY.finditer(text):
        kind = next(name for name, value in m.groupdict().items() if value and name != "k")
        raw = m[kind]
        if kind in {"twice", "thrice"}:  # words are whole numbers: "twice" may stand for 2.3x
            found.append(Quantity(2.0 if kind == "twice" else 3.0, "x", 0.5, m[0]))
        elif kind in {"xw", "nw"}:
            unit: Unit = "x" if kind == "xw" else "n"
            found.append(Quantity(float(_NUMBER_WORDS[raw.lower()]), unit, 0.5, m[0]))
        else:
            scale = 1000.0 if kind == "usd" and m["k"] else 1.0
            value = float(raw.replace(",", "")) * scale
            unit = {"usd": "usd", "usd2": "usd", "pct": "pct", "x": "x", "x2": "x"}.get(kind, "n")
            found.append(Quantity(value, unit, _rounding(raw, scale), m[0]))
    return found


def extract_categories(text: str) -> set[str]:
    return {c for c, pattern in _CATEGORY_PATTERNS.items() if pattern.search(text)}


def extract_merchants(text: str) -> set[str]:
    return {_MERCHANTS[m[0].lower()] for m in _MERCHANT.finditer(text)}


def _activity_quantities(a: CategoryActivity) -> list[Quantity]:
    out = [
        Quantity(a.spend_30d, "usd"),
        Quantity(a.spend_90d, "usd"),
        Quantity(float(a.txn_count_30d), "n"),
        Quantity(float(a.txn_count_90d), "n"),
        Quantity(a.share_90d * 100, "pct"),
    ]
    if a.prior_monthly_avg is not None and a.trend is not None:
        out += [
            Quantity(a.prior_monthly_avg, "usd"),
            Quantity(a.trend, "x"),
            Quantity(abs(a.trend - 1) * 100, "pct"),
        ]
    return out


def _reason_quantities(r: ReasonCode) -> list[Quantity]:
    value = r.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return []
    name = r.feature
    if name.startswith("trend_"):
        if not 0 < value < TREND_CAP:  # at the cap the ratio is a floor, not a fact
            return []
        return [Quantity(value, "x"), Quantity(abs(value - 1) * 100, "pct")]
    if name.startswith("share_") or name == "points_redemption_share":
        return [Quantity(value * 100, "pct")]
    if name.startswith("spend_") or name == "avg_ticket_90d":
        return [Quantity(value, "usd")]
    return [Quantity(float(value), "n")]


def allowed_quantities(facts: ExplanationFacts) -> list[Quantity]:
    """Every number the facts support, in the units a sentence would state it in."""
    offer = facts.offer
    offer_unit: Unit = {"points": "x", "discount": "pct", "cashback": "usd"}[offer.offer_type]
    out = [
        Quantity(offer.value, offer_unit),
        Quantity(offer.min_spend, "usd"),
        *extract_quantities(offer.headline),
        *_activity_quantities(facts.offer_category),
        Quantity(facts.total_spend_90d, "usd"),
        *(Quantity(w, "n") for w in WINDOW_NUMBERS),
    ]
    if facts.top_category:
        out += _activity_quantities(facts.top_category)
    for count in (facts.days_since_last_txn, facts.tenure_months):
        if count is not None:
            out.append(Quantity(float(count), "n"))
    if facts.points_redemption_share is not None:
        share = facts.points_redemption_share
        out += [Quantity(share * 100, "pct"), Quantity((1 - share) * 100, "pct")]
    for reason in facts.reason_codes:
        out += _reason_quantities(reason)
    return [Quantity(q.value, q.unit) for q in out]  # facts are exact: no tolerance of their own


def _vocabulary(facts: ExplanationFacts, categories: Iterable[str]) -> set[str]:
    """Lower-cased words a capitalised word may be without naming something new."""
    words = set(_COMMON_CAPITALS)
    phrases = [facts.offer.headline, *(category_label(c) for c in categories)]
    phrases += [w for c in categories for w in _CATEGORY_WORDS[c]]
    if facts.card_product:
        phrases.append(facts.card_product)
    for phrase in phrases:
        words.update(w.lower() for w in re.findall(r"[a-zA-Z'&-]+", phrase))
    return words


@dataclass(frozen=True)
class Verdict:
    """The outcome of the check: faithful, or the list of unsupported statements."""

    problems: tuple[str, ...] = ()

    @property
    def faithful(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        return "; ".join(self.problems)


def check(text: str, facts: ExplanationFacts) -> Verdict:
    """Every number, category, merchant and proper name in `text` must come from `facts`."""
    problems: list[str] = []
    allowed = allowed_quantities(facts)
    for q in extract_quantities(text):
        if not any(q.matches(fact) for fact in allowed):
            problems.append(f"number {q.text.strip()!r} is not in the facts")
    categories = facts.mentioned_categories() | extract_categories(facts.offer.headline)
    for category in sorted(extract_categories(text) - categories):
        problems.append(f"category {category_label(category)!r} is not in the facts")
    for merchant in sorted(extract_merchants(text) - extract_merchants(facts.offer.headline)):
        problems.append(f"merchant {merchant!r} is not in the facts")
    vocabulary = _vocabulary(facts, categories)
    for m in _CAPITALISED.finditer(text):
        word = m[0].lower()
        if word not in vocabulary and not _SENTENCE_START.search(text[: m.start()]):
            problems.append(f"name {m[0]!r} is not in the facts")
    return Verdict(tuple(dict.fromkeys(problems)))
