"""Does a piece of text state only what the facts say?

An LLM writes fluent text and sometimes invents a number ("you spent $120") or a place ("at
Starbucks" in a card offer). Before LLM text is shown, every number (money, percentages,
multipliers such as "3x" or "twice", counts), every merchant category, every merchant name and
every other proper name it states must match the facts; numbers may be rounded to the precision
the text shows. Anything else fails the check, and the explainer falls back to the template text.
What names a category, which merchants exist, which windows a text may always name and how an
offer's value is stated come from the data set's `Vocabulary`: the same check on every data set.

The check is deliberately strict: a true but derived number ("10% of $67 is $6.70") fails too,
because the cost of a rejected good sentence is a template sentence, while the cost of a shown
wrong number is a customer's trust.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from smartstack.datasets.vocabulary import Vocabulary
from smartstack.messaging.facts import (
    CategoryActivity,
    ExplanationFacts,
    OfferHistory,
    ReasonCode,
)

Unit = Literal["usd", "pct", "x", "n"]

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
# "N times" compares ("3 times as much", "twice the usual") unless it counts ("bought coffee 6
# times"): followed by none of these words it may state a count as well as a multiplier.
_COMPARING = re.compile(
    r"\s+(?:as|more|less|than|the|your|what|bigger|larger|higher|greater)\b", re.IGNORECASE
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
    counts: bool = False  # "6 times" that compares nothing: a multiplier or a count

    def matches(self, fact: Quantity) -> bool:
        """Whether this stated number is the fact, rounded; bare numbers may be of any unit."""
        unit_ok = self.unit in ("n", fact.unit) or (self.counts and fact.unit == "n")
        return unit_ok and abs(self.value - fact.value) <= self.tolerance + 1e-9


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
        counts = kind in {"x2", "xw"} and not _COMPARING.match(text, m.end())
        if kind in {"twice", "thrice"}:  # words are whole numbers: "twice" may stand for 2.3x
            found.append(Quantity(2.0 if kind == "twice" else 3.0, "x", 0.5, m[0]))
        elif kind in {"xw", "nw"}:
            unit: Unit = "x" if kind == "xw" else "n"
            found.append(Quantity(float(_NUMBER_WORDS[raw.lower()]), unit, 0.5, m[0], counts))
        else:
            scale = 1000.0 if kind == "usd" and m["k"] else 1.0
            value = float(raw.replace(",", "")) * scale
            unit = {"usd": "usd", "usd2": "usd", "pct": "pct", "x": "x", "x2": "x"}.get(kind, "n")
            found.append(Quantity(value, unit, _rounding(raw, scale), m[0], counts))
    return found


@dataclass(frozen=True)
class _Names:
    """The vocabulary's names as patterns, compiled once per data set."""

    categories: dict[str, re.Pattern[str]]
    merchants: dict[str, str]  # lower-cased -> as written
    merchant: re.Pattern[str] | None


@functools.cache  # one vocabulary per data set, compared by identity
def _names(vocabulary: Vocabulary) -> _Names:
    merchants = {m.lower(): m for m in vocabulary.merchants}
    alternatives = "|".join(re.escape(m) for m in sorted(merchants, key=len, reverse=True))
    return _Names(
        categories={
            name: re.compile(r"\b(?:" + "|".join(c.words) + r")\b", re.IGNORECASE)
            for name, c in vocabulary.categories.items()
            if c.words
        },
        merchants=merchants,
        merchant=re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE) if merchants else None,
    )


def extract_categories(text: str, vocabulary: Vocabulary) -> set[str]:
    """The data set's categories the text names, by any of their words."""
    return {c for c, pattern in _names(vocabulary).categories.items() if pattern.search(text)}


def extract_merchants(text: str, vocabulary: Vocabulary) -> set[str]:
    """The data set's merchants the text names."""
    names = _names(vocabulary)
    if names.merchant is None:
        return set()
    return {names.merchants[m[0].lower()] for m in names.merchant.finditer(text)}


def _activity_quantities(a: CategoryActivity) -> list[Quantity]:
    out = [
        Quantity(a.recent.spend, "usd"),
        Quantity(a.longer.spend, "usd"),
        Quantity(float(a.recent.txn_count), "n"),
        Quantity(float(a.longer.txn_count), "n"),
    ]
    if a.share is not None:
        out.append(Quantity(a.share * 100, "pct"))
    if a.prior_average is not None and a.trend is not None:
        out += [
            Quantity(a.prior_average, "usd"),
            Quantity(a.trend, "x"),
            Quantity(abs(a.trend - 1) * 100, "pct"),
        ]
    return out


def _history_quantities(h: OfferHistory) -> list[Quantity]:
    return [Quantity(float(count), "n") for count in (h.received, h.viewed, h.completed)]


def _reason_quantities(r: ReasonCode) -> list[Quantity]:
    """The reason's value in its unit (a ratio out of range already has none: facts.py)."""
    value = r.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return []
    if r.unit == "x":
        return [Quantity(value, "x"), Quantity(abs(value - 1) * 100, "pct")]
    if r.unit == "pct":
        return [Quantity(value * 100, "pct")]
    if r.unit == "usd":
        return [Quantity(value, "usd")]
    return [Quantity(float(value), "n")]


def allowed_quantities(facts: ExplanationFacts, vocabulary: Vocabulary) -> list[Quantity]:
    """Every number the facts support, in the units a sentence would state it in."""
    offer = facts.offer
    offer_unit = vocabulary.offer_type(offer.offer_type).unit
    out = [
        *([Quantity(offer.value, offer_unit)] if offer_unit else []),
        Quantity(offer.min_spend, "usd"),
        *extract_quantities(offer.headline),
        *_activity_quantities(facts.offer_category),
        Quantity(facts.total_spend, "usd"),
        *(Quantity(w, "n") for w in vocabulary.window_numbers),
    ]
    if offer.duration_days is not None:
        out.append(Quantity(offer.duration_days, "n"))
    if facts.top_category:
        out += _activity_quantities(facts.top_category)
    for count in (facts.days_since_last_txn, facts.tenure):
        if count is not None:
            out.append(Quantity(float(count), "n"))
    if facts.redeemed_type_share is not None:
        share = facts.redeemed_type_share
        out += [Quantity(share * 100, "pct"), Quantity((1 - share) * 100, "pct")]
    if facts.offer_history is not None:
        out += _history_quantities(facts.offer_history)
    for reason in facts.reason_codes:
        out += _reason_quantities(reason)
    return [Quantity(q.value, q.unit) for q in out]  # facts are exact: no tolerance of their own


def _allowed_words(
    facts: ExplanationFacts, categories: Iterable[str], vocabulary: Vocabulary
) -> set[str]:
    """Lower-cased words a capitalised word may be without naming something new."""
    words = set(_COMMON_CAPITALS)
    named = [vocabulary.category(c) for c in categories]
    phrases = [facts.offer.headline, *(c.label for c in named)]
    phrases += [w for c in named for w in c.words]
    if facts.card_product:
        phrases.append(facts.card_product)
    if vocabulary.merchant:
        phrases.append(vocabulary.merchant)
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


def check(text: str, facts: ExplanationFacts, vocabulary: Vocabulary) -> Verdict:
    """Every number, category, merchant and proper name in `text` must come from `facts`, in
    the words of the data set's `vocabulary`."""
    problems: list[str] = []
    allowed = allowed_quantities(facts, vocabulary)
    for q in extract_quantities(text):
        if not any(q.matches(fact) for fact in allowed):
            problems.append(f"number {q.text.strip()!r} is not in the facts")
    headline = facts.offer.headline
    categories = facts.mentioned_categories() | extract_categories(headline, vocabulary)
    for category in sorted(extract_categories(text, vocabulary) - categories):
        label = vocabulary.category(category).label
        problems.append(f"category {label!r} is not in the facts")
    merchants = extract_merchants(headline, vocabulary)
    if vocabulary.merchant:
        merchants.add(vocabulary.merchant)
    for merchant in sorted(extract_merchants(text, vocabulary) - merchants):
        problems.append(f"merchant {merchant!r} is not in the facts")
    words = _allowed_words(facts, categories, vocabulary)
    for m in _CAPITALISED.finditer(text):
        word = m[0].lower()
        if word not in words and not _SENTENCE_START.search(text[: m.start()]):
            problems.append(f"name {m[0]!r} is not in the facts")
    return Verdict(tuple(dict.fromkeys(problems)))
