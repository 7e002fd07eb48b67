"""Rules that strip names, e-mails, phones, card numbers and addresses from text sent to an LLM.

Prompts are built from `ExplanationFacts`, which holds no identifiers, so this is the second line
of defence: it runs on every message before it leaves the process, on every prompt that is
logged, and on every answer (an answer that needed redacting is not shown).

Why rules and not a library: Presidio finds names and addresses only through a spaCy NER model,
which it downloads at start-up (impossible offline, and heavy); without one it adds nothing the
e-mail and card rules below do not already do, and it misses the 555 phone numbers our data uses.
scrubadub's defaults found only the e-mail. Rules cannot recognise an arbitrary name, so names are
caught three ways: a deny-list of the customer's own known values (`Redactor.for_customer`, from
the `customer_pii` row), patterns for names in context ("Dear …", "Mr …"), and runs of capitalised
words that are not the product's own (the data set's merchants and card products, from its
`Vocabulary`). A lone first name in free text with no deny-list is the one case rules miss; facts
carry no free text but the offer headline.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from smartstack.datasets.vocabulary import Vocabulary

_STREET_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way|Place|Pl|"
    "Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Square|Sq|Trail|Trl|Row|Alley|Close"
)
_WORD = r"[A-Z][a-zA-Z'.-]*"
_NAME = r"[A-Z][a-zA-Z'-]+(?:\s+[A-Z][a-zA-Z'-]+)?"
# A pattern with a `pii` group replaces only that group ("Dear [NAME]"), else the whole match.
# Ordered: cards before phones (a card number contains phone-shaped runs), addresses before ZIPs.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("EMAIL", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("CARD", re.compile(r"(?<![\d.,])\d(?:[ -]?\d){12,18}(?![\d.,]\d)")),
    (
        "PHONE",
        re.compile(
            r"(?<![\w.,])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?![\w]|[.,]\d)"
            r"|(?<![\w+])\+\d{1,3}(?:[\s.-]?\(?\d{1,4}\)?){2,5}(?!\w)"
        ),
    ),
    (
        "ADDRESS",
        re.compile(
            rf"\b\d{{1,6}}\s+(?:{_WORD}\s+){{1,4}}(?:{_STREET_TYPES})\b\.?"
            r"(?:,?\s+(?:Apt|Suite|Unit|#)\.?\s*[\w-]+)?"
            rf"(?:,\s*{_WORD}(?:\s+{_WORD})?)?(?:,?\s+[A-Z]{{2}})?(?:,?\s+\d{{5}}(?:-\d{{4}})?)?"
            r"|\bP\.?\s?O\.?\s+Box\s+\d+",
        ),
    ),
    ("ADDRESS", re.compile(r"(?i:\b(?:zip|postal)\s*(?:code)?:?\s*)(?P<pii>\d{5}(?:-\d{4})?)\b")),
    (
        "NAME",
        re.compile(
            rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+{_NAME}"
            rf"|(?i:\b(?:dear|hi|hello|name is|name:)\s+)(?P<pii>{_NAME})"
        ),
    ),
)
# Two or more capitalised words in a row look like a person's name ("Diego Novak") unless one of
# them is a word the product itself uses: a merchant, a card product, or a common capitalised word.
_CAPITALISED_RUN = re.compile(r"\b[A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)+\b")
_COMMON_WORDS = frozenset(
    {"card", "points", "cashback", "offer", "offers", "the", "your", "you", "we"}
)


@functools.cache  # one vocabulary per data set, compared by identity
def product_words(vocabulary: Vocabulary) -> frozenset[str]:
    """Lower-cased words of the data set's merchants and card products, and common ones."""
    return _COMMON_WORDS | frozenset(
        word.lower()
        for phrase in (*vocabulary.card_products, *vocabulary.merchants)
        for word in re.findall(r"[A-Za-z'-]+", phrase)
    )


# Columns of the `customer_pii` table and the placeholder each becomes.
_PII_COLUMNS = {
    "full_name": "NAME",
    "email": "EMAIL",
    "phone": "PHONE",
    "card_number": "CARD",
    "street_address": "ADDRESS",
    "city": "ADDRESS",
    "postal_code": "ADDRESS",
}


def luhn_valid(digits: str) -> bool:
    """The card-number checksum; separates card numbers from other long digit runs."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


@dataclass(frozen=True)
class Redacted:
    """Redacted text and the kinds of identifier removed (never the values)."""

    text: str
    kinds: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.kinds)


def _known_pattern(value: str) -> re.Pattern[str]:
    """A known value, matched case-insensitively; digits match across any separators."""
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 7 and len(digits) >= len(value.replace(" ", "")) * 0.6:
        return re.compile(r"(?<![\d+])\+?" + r"[\s().+-]*".join(digits) + r"(?!\d)")
    words = (re.escape(w) for w in value.split())
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def _name_or_keep(match: re.Match[str], kinds: list[str], product: frozenset[str]) -> str:
    if any(word.lower() in product for word in match[0].split()):
        return match[0]
    kinds.append("NAME")
    return "[NAME]"


@dataclass(frozen=True)
class Redactor:
    """Replaces identifiers with placeholders such as ``[EMAIL]``; stateless and thread-safe.

    The `vocabulary` says which capitalised words are the product's own (never a name)."""

    vocabulary: Vocabulary
    known: Mapping[str, str] = field(default_factory=dict)  # value -> placeholder kind

    @classmethod
    def for_customer(cls, vocabulary: Vocabulary, pii: Mapping[str, object]) -> Redactor:
        """A redactor that also removes one customer's own values (a `customer_pii` row).

        Each part of the name is listed too, so a first name alone is caught as well.
        """
        known: dict[str, str] = {}
        for column, kind in _PII_COLUMNS.items():
            value = str(pii.get(column) or "").strip()
            if not value:
                continue
            known[value] = kind
            if column == "full_name":
                known.update({part: kind for part in value.split() if len(part) >= 3})
        return cls(vocabulary, known=known)

    def redact(self, text: str) -> Redacted:
        kinds: list[str] = []

        def substitute(kind: str, pattern: re.Pattern[str], text: str) -> str:
            def replace(match: re.Match[str]) -> str:
                found = kind
                if kind == "CARD" and not luhn_valid(re.sub(r"\D", "", match[0])):
                    found = "NUMBER"
                kinds.append(found)
                if "pii" in pattern.groupindex and match["pii"] is not None:
                    start, end = match.span("pii")
                    offset = match.start()
                    whole = match[0]
                    return f"{whole[: start - offset]}[{found}]{whole[end - offset :]}"
                return f"[{found}]"

            return pattern.sub(replace, text)

        # Longest known values first, so a full name goes before its parts.
        for value in sorted(self.known, key=len, reverse=True):
            text = substitute(self.known[value], _known_pattern(value), text)
        for kind, pattern in _PATTERNS:
            text = substitute(kind, pattern, text)
        product = product_words(self.vocabulary)
        text = _CAPITALISED_RUN.sub(lambda m: _name_or_keep(m, kinds, product), text)
        return Redacted(text=text, kinds=tuple(sorted(set(kinds))))
