"""Deterministic explanations written from the facts alone.

The template engine is the default when no LLM is configured (the main job works offline) and the
fallback whenever an LLM answer is late, failing or unfaithful, so it has to read well on its own.
It picks one angle (why this offer fits this customer), led by the ranking's top reason code when
the data supports it, then one of a few phrasings for that angle. The phrasing is chosen by a
stable hash of (customer, offer): the same facts always give the same text, yet a customer who
sees several offers does not read the same sentence shape each time.

Every number a template prints comes from the facts, rounded as `faithfulness` accepts, so template
text passes the same check as LLM text (the tests hold it to that).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from smartstack.messaging.facts import CategoryActivity, ExplanationFacts, feature_category

# Categories that are places ("at coffee shops"); the rest are kinds of spending ("on travel").
_PLACES = {"dining", "coffee_shops", "gas", "drugstores"}
# A points share this far from one half says the customer clearly prefers one offer type.
POINTS_LOVER = 0.6
DISCOUNT_LOVER = 0.4
# A category share worth calling out as a habit ("made up 24% of your spending").
BIG_SHARE = 0.15


@dataclass(frozen=True)
class TemplateText:
    """A rendered explanation and the template (angle/phrasing) that wrote it, for feedback."""

    text: str
    template_id: str


def usd(amount: float) -> str:
    """Money as a customer reads it: cents only under $10."""
    if amount >= 10:
        return f"${amount:,.0f}"
    return f"${amount:.2f}"


def times(ratio: float) -> str:
    """A multiplier with one decimal unless it is (nearly) whole: '3x', '2.4x'."""
    return f"{round(ratio)}x" if abs(ratio - round(ratio)) < 0.05 else f"{ratio:.1f}x"


def pct(fraction: float) -> str:
    return f"{round(fraction * 100)}%"


def where(category: str, label: str) -> str:
    """The label with its preposition: 'at coffee shops', 'on travel'."""
    return f"{'at' if category in _PLACES else 'on'} {label}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _pick(facts: ExplanationFacts, count: int) -> int:
    digest = hashlib.sha256(f"{facts.customer_id}|{facts.offer.offer_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % count


# Each angle gives its phrasings from (activity in the offer's category, offer headline, facts).
# An angle applies only when the facts it states exist, so no phrasing prints a missing number.
Phrasings = Callable[[CategoryActivity, str, ExplanationFacts], list[str]]


def _trend_up(a: CategoryActivity, h: str, f: ExplanationFacts) -> list[str]:
    at, avg = where(a.category, a.label), usd(a.prior_monthly_avg or 0.0)
    return [
        f"You spent {times(a.trend or 0)} as much {at} in the last 30 days ({usd(a.spend_30d)}) "
        f"as in a typical month before ({avg}), so {h} fits right in.",
        f"Your spending {at} is up {times(a.trend or 0)}: {usd(a.spend_30d)} in the last 30 days "
        f"against a monthly average of {avg} before. {_cap(h)} rewards the habit you're building.",
        f"Over the last 30 days you spent {times(a.trend or 0)} your usual monthly amount {at}. "
        f"That's why we picked {h}.",
    ]


def _surge(a: CategoryActivity, h: str, f: ExplanationFacts) -> list[str]:
    at = where(a.category, a.label)
    return [
        f"Your spending {at} jumped to {usd(a.spend_30d)} in the last 30 days, far above the "
        f"months before, so {h} lands right when you need it.",
        f"You've started spending more {at}: {usd(a.spend_30d)} over the last 30 days. "
        f"{_cap(h)} makes that go further.",
    ]


def _habit(a: CategoryActivity, h: str, f: ExplanationFacts) -> list[str]:
    at = where(a.category, a.label)
    visits = f"{a.txn_count_90d} purchase{'s' if a.txn_count_90d != 1 else ''}"
    phrasings = [
        f"You made {visits} {at} in the last 90 days ({usd(a.spend_90d)} in total). "
        f"{_cap(h)} rewards that routine.",
        f"With {usd(a.spend_90d)} spent {at} over the last 90 days, {h} is an easy win for you.",
    ]
    if a.share_90d >= BIG_SHARE:
        phrasings.append(
            f"{_cap(a.label)} made up {pct(a.share_90d)} of your spending over the last 90 days, "
            f"so {h} pays off on something you already do."
        )
    return phrasings


def _trend_down(a: CategoryActivity, h: str, f: ExplanationFacts) -> list[str]:
    at = where(a.category, a.label)
    return [
        f"You've spent less {at} lately ({usd(a.spend_30d)} in the last 30 days, against about "
        f"{usd(a.prior_monthly_avg or 0.0)} a month before); {h} makes your next visit cheaper.",
        f"Your spending {at} has slowed to {usd(a.spend_30d)} in the last 30 days. "
        f"{_cap(h)} is a good reason to go back.",
    ]


def _stopped(a: CategoryActivity, h: str, f: ExplanationFacts) -> list[str]:
    at = where(a.category, a.label)
    return [
        f"You spent {usd(a.spend_90d)} {at} over the last 90 days but nothing in the last 30. "
        f"{_cap(h)} is a good reason to go back.",
        f"It's been a while since you spent {at}; {h} welcomes you back.",
    ]


def _quiz(a: CategoryActivity, h: str, f: ExplanationFacts) -> list[str]:
    return [
        f"You picked {a.label} as your favourite in our quiz, so we chose {h} for you.",
        f"You told us {a.label} is your favourite category: {h} is made for that.",
    ]


def _type_preference(a: CategoryActivity, h: str, f: ExplanationFacts) -> list[str]:
    return [f"{_preference(f)} {_cap(h)} fits how you like to be rewarded."]


def _explore(a: CategoryActivity, h: str, f: ExplanationFacts) -> list[str]:
    top = f.top_category
    if top is not None:
        return [
            f"You spend the most {where(top.category, top.label)} ({pct(top.share_90d)} of your "
            f"spending over the last 90 days); {h} adds a new way to earn.",
        ]
    return [f"{_cap(h)} is an easy way to get more from your card."]


def _cold_start(a: CategoryActivity, h: str, f: ExplanationFacts) -> list[str]:
    card = f"your {f.card_product} card" if f.card_product else "your card"
    if f.quiz_picked_offer_category:
        return [f"You told us you love {a.label}, so start with {h}."]
    return [
        f"A simple way to start using {card}: {h}.",
        f"Welcome! {_cap(h)} is an easy first reward with {card}.",
    ]


def _preference(f: ExplanationFacts) -> str | None:
    """A sentence on the customer's taste for this offer type, when the facts show one."""
    share = f.points_redemption_share
    if f.offer.offer_type == "points":
        if share is not None and share >= POINTS_LOVER:
            return _redeemed(share, "points offers", "a points offer")
        if f.quiz_prefers_rewards:
            return "You told us you prefer points rewards."
    else:
        if share is not None and share <= DISCOUNT_LOVER:
            return _redeemed(1 - share, "discounts or cashback", "a discount or cashback")
        if f.quiz_prefers_rewards is False:
            return "You told us you prefer discounts to points."
    return None


def _redeemed(share: float, kinds: str, kind: str) -> str:
    if share >= 1:
        return f"Every offer you redeemed in the last 90 days was {kind}."
    return f"Most offers you redeemed in the last 90 days were {kinds} ({pct(share)})."


_ANGLES: dict[str, Phrasings] = {
    "cold_start": _cold_start,
    "surge": _surge,
    "trend_up": _trend_up,
    "trend_down": _trend_down,
    "stopped": _stopped,
    "habit": _habit,
    "quiz": _quiz,
    "type_preference": _type_preference,
    "explore": _explore,
}


def _applicable(f: ExplanationFacts) -> list[str]:
    """Angles whose facts exist, strongest evidence first."""
    a = f.offer_category
    angles = []
    if a.spend_30d > 0 and a.trend_label == "surge":
        angles.append("surge")
    if a.spend_30d > 0 and a.trend_label == "up" and a.prior_monthly_avg:
        angles.append("trend_up")
    if a.spend_90d > 0:
        angles.append("habit")
    if a.spend_30d > 0 and a.trend_label == "down" and a.prior_monthly_avg:
        angles.append("trend_down")
    if a.spend_30d == 0 and a.spend_90d > 0:
        angles.append("stopped")
    if f.quiz_picked_offer_category:
        angles.append("quiz")
    if _preference(f):
        angles.append("type_preference")
    angles.append("explore")
    return angles


_TREND_ANGLES = ("surge", "trend_up", "trend_down", "stopped")


def _led_by_reason(f: ExplanationFacts, angles: list[str]) -> str:
    """The angle the ranking's strongest reason points to, if that angle applies."""
    for reason in f.reason_codes:
        name = reason.feature
        if feature_category(name) == f.offer.category:
            trend = name.startswith("trend_")
            wanted = [*(_TREND_ANGLES if trend else ()), "habit"]
        elif name == "quiz_favourite_category":
            wanted = ["quiz"]
        elif name in {"points_redemption_share", "quiz_prefers_rewards"}:
            wanted = ["type_preference"]
        else:
            continue
        for angle in wanted:
            if angle in angles:
                return angle
    return angles[0]


def choose_angle(facts: ExplanationFacts) -> str:
    """The angle of the explanation: cold start, else reason-led, else strongest evidence."""
    if facts.is_cold_start:
        return "cold_start"
    return _led_by_reason(facts, _applicable(facts))


def render(facts: ExplanationFacts) -> TemplateText:
    """The template explanation of one offer for one customer."""
    angle = choose_angle(facts)
    headline = facts.offer.headline
    phrasings = _ANGLES[angle](facts.offer_category, headline, facts)
    index = _pick(facts, len(phrasings))
    text = phrasings[index]
    extra = _extra(facts, angle)
    if extra:
        text = f"{text} {extra}"
    return TemplateText(text=text, template_id=f"{angle}/{index + 1}")


def _extra(f: ExplanationFacts, angle: str) -> str | None:
    """One supporting sentence the lead did not already say: the quiz pick or the type taste."""
    if angle in {"cold_start", "quiz", "type_preference"}:
        return None
    if f.quiz_picked_offer_category:
        return "It's also the category you picked as your favourite."
    return _preference(f)
