"""Deterministic explanations written from the facts alone.

The template engine is the default when no LLM is configured (the main job works offline) and the
fallback whenever an LLM answer is late, failing or unfaithful, so it has to read well on its own.
It picks one angle (why this offer fits this customer), led by the ranking's top reason code when
the data supports it, then one of a few phrasings for that angle. The phrasing is chosen by a
stable hash of (customer, offer): the same facts always give the same text, yet a customer who
sees several offers does not read the same sentence shape each time.

Angles are about facts, not data sets: an angle applies only when its facts exist, so a data set
without trends never gets a trend sentence, and one without offer history never hears about it.
Every word that names something (a category, the offer, the card, a window) comes from the
data set's `Vocabulary`, and every number from the facts, rounded as `faithfulness` accepts, so
template text passes the same check as LLM text (the tests hold it to that, on every data set).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from smartstack.datasets.vocabulary import Vocabulary
from smartstack.messaging.facts import CategoryActivity, ExplanationFacts, OfferHistory

# A share of redeemed offers this far from one half says the customer clearly prefers one type.
LOVES_TYPE = 0.6
LOVES_OTHERS = 0.4
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


def terms_usd(amount: float) -> str:
    """Money in an offer's terms, as the catalogue states it: '$10', '$2', '$2.50'."""
    return f"${amount:,.0f}" if amount == round(amount) else f"${amount:,.2f}"


def times(ratio: float) -> str:
    """A multiplier with one decimal unless it is (nearly) whole: '3x', '2.4x'."""
    return f"{round(ratio)}x" if abs(ratio - round(ratio)) < 0.05 else f"{ratio:.1f}x"


def pct(fraction: float) -> str:
    return f"{round(fraction * 100)}%"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _pick(facts: ExplanationFacts, count: int) -> int:
    digest = hashlib.sha256(f"{facts.customer_id}|{facts.offer.offer_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % count


@dataclass(frozen=True)
class Context:
    """What a phrasing writes from: the facts, the vocabulary, and the offer named in words."""

    facts: ExplanationFacts
    vocabulary: Vocabulary
    offer: str  # the offer inside a sentence: its headline, or its terms
    goal: str | None  # what the customer does for the reward, where the offer type says it

    @property
    def activity(self) -> CategoryActivity:
        return self.facts.offer_category

    @property
    def at(self) -> str:
        """Where the offer's category is spent: 'at coffee shops', 'on travel'."""
        return self.vocabulary.category(self.facts.offer.category).where

    @property
    def label(self) -> str:
        return self.vocabulary.category(self.facts.offer.category).label

    @property
    def period(self) -> str:
        """The recent window in words ('month'), for the trend angles."""
        return self.vocabulary.trend.period if self.vocabulary.trend else "period"

    @property
    def rewarding(self) -> bool:
        """Whether the offer carries a reward at all (informational offers do not)."""
        return self.vocabulary.offer_type(self.facts.offer.offer_type).unit is not None


def _offer_words(facts: ExplanationFacts, vocabulary: Vocabulary) -> tuple[str, str | None]:
    """The offer as its type states it (a headline, or the terms) and its spending goal."""
    offer = facts.offer
    kind = vocabulary.offer_type(offer.offer_type)
    terms = {
        "headline": offer.headline,
        "value": terms_usd(offer.value) if kind.unit == "usd" else f"{offer.value:g}",
        "min_spend": terms_usd(offer.min_spend),
        "days": f"{offer.duration_days:g}" if offer.duration_days is not None else "",
    }
    goal = None
    if kind.goal and offer.min_spend > 0 and offer.duration_days:
        goal = kind.goal.format(**terms)
    phrase = kind.phrase if offer.duration_days or "{days}" not in kind.phrase else "{headline}"
    return phrase.format(**terms), goal


# Each angle gives its phrasings from the context. An angle applies only when the facts it states
# exist, so no phrasing prints a missing number.
Phrasings = Callable[[Context], list[str]]


def _trend_up(c: Context) -> list[str]:
    a, h, at, p = c.activity, c.offer, c.at, c.period
    avg, days, recent = usd(a.prior_average or 0.0), a.recent.days, usd(a.recent.spend)
    return [
        f"You spent {times(a.trend or 0)} as much {at} in the last {days} days ({recent}) "
        f"as in a typical {p} before ({avg}), so {h} fits right in.",
        f"Your spending {at} is up {times(a.trend or 0)}: {recent} in the last {days} days "
        f"against a {p}ly average of {avg} before. {_cap(h)} rewards the habit you're building.",
        f"Over the last {days} days you spent {times(a.trend or 0)} your usual {p}ly amount {at}. "
        f"That's why we picked {h}.",
    ]


def _surge(c: Context) -> list[str]:
    a, h, at = c.activity, c.offer, c.at
    return [
        f"Your spending {at} jumped to {usd(a.recent.spend)} in the last {a.recent.days} days, "
        f"far above the {c.period}s before, so {h} lands right when you need it.",
        f"You've started spending more {at}: {usd(a.recent.spend)} over the last "
        f"{a.recent.days} days. {_cap(h)} makes that go further.",
    ]


def _habit(c: Context) -> list[str]:
    a, h, at = c.activity, c.offer, c.at
    longer = a.longer
    visits = _plural(longer.txn_count, "purchase")
    phrasings = [
        f"You made {visits} {at} in the last {longer.days} days ({usd(longer.spend)} in total). "
        f"{_cap(h)} rewards that routine.",
        f"With {usd(longer.spend)} spent {at} over the last {longer.days} days, {h} is an easy "
        "win for you.",
    ]
    if a.share is not None and a.share >= BIG_SHARE:
        phrasings.append(
            f"{_cap(c.label)} made up {pct(a.share)} of your spending over the last "
            f"{longer.days} days, so {h} pays off on something you already do."
        )
    return phrasings


def _within_reach(c: Context) -> list[str]:
    recent = c.activity.recent
    visits = _plural(recent.txn_count, "purchase")
    return [
        f"You made {visits} {c.at} in the last {recent.days} days ({usd(recent.spend)} in "
        f"total), so {c.goal} is within easy reach.",
        f"With {usd(recent.spend)} spent {c.at} in the last {recent.days} days, {c.goal} should "
        "come easily.",
    ]


def _come_back(c: Context) -> list[str]:
    """Some spending, not yet the offer's goal: an invitation, not an easy win."""
    longer = c.activity.longer
    return [
        f"You made {_plural(longer.txn_count, 'purchase')} {c.at} in the last {longer.days} days "
        f"({usd(longer.spend)} in total). {_cap(c.offer)} gives you a reason to come back.",
        f"Good news for your next visit {c.at}: {c.goal} is on offer.",
    ]


def _trend_down(c: Context) -> list[str]:
    a, h, at = c.activity, c.offer, c.at
    recent, days = usd(a.recent.spend), a.recent.days
    return [
        f"You've spent less {at} lately ({recent} in the last {days} days, against about "
        f"{usd(a.prior_average or 0.0)} a {c.period} before); {h} makes your next visit cheaper.",
        f"Your spending {at} has slowed to {recent} in the last {days} days. "
        f"{_cap(h)} is a good reason to go back.",
    ]


def _stopped(c: Context) -> list[str]:
    a, h, at = c.activity, c.offer, c.at
    return [
        f"You spent {usd(a.longer.spend)} {at} over the last {a.longer.days} days but nothing in "
        f"the last {a.recent.days}. {_cap(h)} is a good reason to go back.",
        f"It's been a while since you spent {at}; {h} welcomes you back.",
    ]


def _quiz(c: Context) -> list[str]:
    return [
        f"You picked {c.label} as your favourite in our quiz, so we chose {c.offer} for you.",
        f"You told us {c.label} is your favourite category: {c.offer} is made for that.",
    ]


def _type_preference(c: Context) -> list[str]:
    return [f"{_preference(c)} {_cap(c.offer)} fits how you like to be rewarded."]


def _type_history(c: Context) -> list[str]:
    if not c.rewarding:
        return [f"{_history(c)} Here is another one."]
    return [
        f"{_history(c)} {_cap(c.offer)} is another one.",
        f"{_history(c)} So we picked {c.offer} for you.",
    ]


def _explore(c: Context) -> list[str]:
    top = c.facts.top_category
    h = c.offer
    if top is not None and top.share is not None:
        where = c.vocabulary.category(top.category).where
        return [
            f"You spend the most {where} ({pct(top.share)} of your spending over the last "
            f"{top.longer.days} days); {h} adds a new way to earn.",
        ]
    return [f"{_cap(h)} is an easy way to get more from your {c.vocabulary.account}."]


def _cold_start(c: Context) -> list[str]:
    f, account = c.facts, c.vocabulary.account
    held = f"your {f.card_product} {account}" if f.card_product else f"your {account}"
    if f.quiz_picked_offer_category:
        return [f"You told us you love {c.label}, so start with {c.offer}."]
    return [
        f"A simple way to start using {held}: {c.offer}.",
        f"Welcome! {_cap(c.offer)} is an easy first reward with {held}.",
    ]


def _news(c: Context) -> list[str]:
    """An offer without a reward: no sentence may promise one."""
    longer = c.activity.longer
    if longer.spend > 0:
        return [
            f"You made {_plural(longer.txn_count, 'purchase')} {c.at} in the last {longer.days} "
            f"days, so we thought you'd like {c.offer}.",
            f"With {usd(longer.spend)} spent {c.at} over the last {longer.days} days, you may "
            f"like {c.offer}.",
        ]
    return [f"We thought you'd like {c.offer}."]


def _preference(c: Context) -> str | None:
    """A sentence on the customer's taste for this offer type, when the facts show one."""
    taste, f = c.vocabulary.taste, c.facts
    if taste is None:
        return None
    share = f.redeemed_type_share
    if f.offer.offer_type == taste.offer_type:
        if share is not None and share >= LOVES_TYPE:
            return _redeemed(share, taste.many, taste.one, taste.days)
        if f.quiz_prefers_type:
            return taste.stated_yes
    else:
        if share is not None and share <= LOVES_OTHERS:
            return _redeemed(1 - share, taste.others_many, taste.others_one, taste.days)
        if f.quiz_prefers_type is False:
            return taste.stated_no
    return None


def _redeemed(share: float, kinds: str, kind: str, days: int) -> str:
    if share >= 1:
        return f"Every offer you redeemed in the last {days} days was {kind}."
    return f"Most offers you redeemed in the last {days} days were {kinds} ({pct(share)})."


def _history(c: Context) -> str | None:
    """What the customer did with earlier offers of this type: completed them (offers with a
    reward) or viewed them (offers without one), when they did."""
    h: OfferHistory | None = c.facts.offer_history
    if h is None:
        return None
    kind = c.vocabulary.offer_type(h.offer_type)
    did, done = ("completed", h.completed) if c.rewarding else ("viewed", h.viewed)
    if done <= 0:
        return None
    if done >= h.received:
        if h.received == 1:
            return f"You {did} the {kind.singular} you received before."
        return f"You {did} all {h.received} {kind.plural} you received before."
    return f"You {did} {done} of the {h.received} {kind.plural} you received before."


_ANGLES: dict[str, Phrasings] = {
    "cold_start": _cold_start,
    "within_reach": _within_reach,
    "type_history": _type_history,
    "surge": _surge,
    "trend_up": _trend_up,
    "trend_down": _trend_down,
    "stopped": _stopped,
    "habit": _habit,
    "come_back": _come_back,
    "quiz": _quiz,
    "type_preference": _type_preference,
    "explore": _explore,
    "news": _news,
}


def _applicable(c: Context) -> list[str]:
    """Angles whose facts exist, strongest evidence first."""
    if not c.rewarding:
        return ["type_history", "news"] if _history(c) else ["news"]
    f, a = c.facts, c.activity
    angles = []
    if c.goal and a.recent.spend >= f.offer.min_spend:
        angles.append("within_reach")
    if _history(c):
        angles.append("type_history")
    if a.recent.spend > 0 and a.trend_label == "surge":
        angles.append("surge")
    if a.recent.spend > 0 and a.trend_label == "up" and a.prior_average:
        angles.append("trend_up")
    # An offer with a spending goal is an easy win only for spending that reaches it.
    reaches = c.goal is None or a.longer.spend >= f.offer.min_spend
    if a.longer.spend > 0 and reaches:
        angles.append("habit")
    if a.recent.spend > 0 and a.trend_label == "down" and a.prior_average:
        angles.append("trend_down")
    if a.recent.spend == 0 and a.longer.spend > 0:
        angles.append("stopped")
    if a.longer.spend > 0 and not reaches:
        angles.append("come_back")
    if f.quiz_picked_offer_category:
        angles.append("quiz")
    if _preference(c):
        angles.append("type_preference")
    angles.append("explore")
    return angles


_TREND_ANGLES = ("surge", "trend_up", "trend_down", "stopped")
# The angles a reason of each topic supports, the most specific first.
_LEADS: dict[str, tuple[str, ...]] = {
    "trend": (*_TREND_ANGLES, "habit"),
    "activity": ("within_reach", "habit", "come_back", "news"),
    "reach": ("within_reach", "habit", "come_back"),
    "quiz": ("quiz",),
    "taste": ("type_preference",),
    "history": ("type_history", "type_preference"),
}


def _led_by_reason(f: ExplanationFacts, angles: list[str]) -> str:
    """The angle the ranking's strongest reason points to, if that angle applies."""
    for reason in f.reason_codes:
        if reason.topic is None or reason.category not in (None, f.offer.category):
            continue
        if reason.topic in ("activity", "trend", "reach") and reason.category is None:
            continue  # spending in no particular category says nothing about this offer's
        for angle in _LEADS[reason.topic]:
            if angle in angles:
                return angle
    return angles[0]


def _context(facts: ExplanationFacts, vocabulary: Vocabulary) -> Context:
    offer, goal = _offer_words(facts, vocabulary)
    return Context(facts, vocabulary, offer, goal)


def choose_angle(facts: ExplanationFacts, vocabulary: Vocabulary) -> str:
    """The angle of the explanation: cold start, else reason-led, else strongest evidence."""
    return _choose(_context(facts, vocabulary))


def _choose(c: Context) -> str:
    if c.facts.is_cold_start and c.rewarding:
        return "cold_start"
    return _led_by_reason(c.facts, _applicable(c))


def render(facts: ExplanationFacts, vocabulary: Vocabulary) -> TemplateText:
    """The template explanation of one offer for one customer, in the data set's words."""
    c = _context(facts, vocabulary)
    angle = _choose(c)
    phrasings = _ANGLES[angle](c)
    index = _pick(facts, len(phrasings))
    text = phrasings[index]
    extra = _extra(c, angle)
    if extra:
        text = f"{text} {extra}"
    return TemplateText(text=text, template_id=f"{angle}/{index + 1}")


def _extra(c: Context, angle: str) -> str | None:
    """One supporting sentence the lead did not already say: the quiz pick, the type taste, or
    the history with offers of this type."""
    if angle in {"cold_start", "quiz", "type_preference", "type_history"}:
        return None
    if c.facts.quiz_picked_offer_category:
        return "It's also the category you picked as your favourite."
    return _preference(c) or _history(c)
