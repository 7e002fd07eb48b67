"""The hidden utility behind the synthetic outcomes: one implementation, two readers.

The generator samples views, clicks and redemptions from these formulas; the evaluation-only
:mod:`.truth` evaluates the same formulas for any (customer, offer, time, channel, position),
so that an off-policy estimate can be checked against a policy's true value. Keeping a single
copy is the point: a second one would drift, and the "true" value would quietly stop being the
one the data was drawn from.

Times are microseconds since the epoch (int64), as in the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from smartstack.data.schema import CARD_PRODUCTS, MERCHANT_CATEGORIES
from smartstack.datasets.synthetic import world as catalog

US_PER_DAY = 86_400_000_000
K = len(MERCHANT_CATEGORIES)
CAT = {c: i for i, c in enumerate(MERCHANT_CATEGORIES)}
# Recency of a customer with no purchase yet (in the category, or at all), and the point where
# category recency stops mattering.
NO_PURCHASE_DAYS = 90.0
MEAN_TICKET = np.array([catalog.CATEGORIES[c].mean_amount for c in MERCHANT_CATEGORIES])
BASE_VIEW = np.array([0.75, 0.6, 0.4])  # chance of a view per IMPRESSION_CHANNELS entry


def micros(ts: datetime) -> int:
    """Microseconds since the epoch, the generator's clock."""
    return int(ts.timestamp() * 1_000_000)


def hidden_utility(
    taste: np.ndarray,
    reward_affinity: np.ndarray,
    is_points: np.ndarray,
    value_score: np.ndarray,
    min_spend: np.ndarray,
    mean_ticket: np.ndarray,
    spend_mult: np.ndarray,
    days_since_category: np.ndarray,
    stated_match: np.ndarray,
) -> np.ndarray:
    """The utility of showing an offer: the current taste for its category, the fit of its
    type (points or not) to the liking for rewards, its value, how far its minimum spend
    stretches the customer's usual ticket in the category, how long since the customer last
    bought there (saturating at ``NO_PURCHASE_DAYS``), and whether the latest quiz answer
    named the category."""
    type_fit = np.where(is_points, reward_affinity, 1.0 - reward_affinity)
    stretch = np.log(np.maximum(min_spend, 1.0) / (mean_ticket * spend_mult))
    days = np.clip(days_since_category, 0.0, NO_PURCHASE_DAYS)
    return (
        1.6 * np.log(taste * K + 0.05)
        + 2.4 * (type_fit - 0.5)
        + 1.2 * value_score
        - 0.5 * np.maximum(stretch, 0.0)
        - 0.35 * np.log1p(days / 7.0)
        + 0.6 * stated_match
        - 0.6
    )


def view_probability(
    channel_index: np.ndarray, days_since_any: np.ndarray, position: np.ndarray
) -> np.ndarray:
    """The chance an impression is seen: the channel's base rate, lower for customers who have
    not bought anything lately, and a little lower for each slot down the list (1-based)."""
    return (
        BASE_VIEW[channel_index]
        * (0.55 + 0.45 * np.exp(-days_since_any / 14.0))
        * 0.97 ** (position - 1)
    )


def click_given_view(utility: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-utility))


def redeem_given_click(utility: np.ndarray) -> np.ndarray:
    """A click already shows intent, so redeeming after one is likelier than clicking."""
    return click_given_view(utility + 1.0)


@dataclass(frozen=True)
class History:
    """Events of many groups, indexed to find each query's last event strictly before a time.

    Keys are ``group * (distinct times + 1) + rank of the time``: one sorted int64 array that
    ``searchsorted`` answers for a million queries at once, and that, unlike keys built from
    microseconds, stays far from overflow for any number of groups and any time span.
    """

    order: np.ndarray  # index of each sorted event in the events given
    group: np.ndarray  # sorted by (group, time)
    times: np.ndarray  # distinct event times, ascending
    keys: np.ndarray

    @classmethod
    def of(cls, group: np.ndarray, t: np.ndarray) -> History:
        by_time = np.argsort(t)
        sorted_t = t[by_time]
        first = np.ones(t.size, dtype=bool)
        first[1:] = sorted_t[1:] != sorted_t[:-1]
        rank = np.empty(t.size, dtype=np.int64)
        rank[by_time] = np.cumsum(first) - 1
        times = sorted_t[first]
        keys = group.astype(np.int64) * (times.size + 1) + rank
        order = np.argsort(keys, kind="stable")
        return cls(order=order, group=group[order], times=times, keys=keys[order])

    def last_before(self, group: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Index (into the events given) of the group's last event before ``t``, or -1."""
        if self.keys.size == 0:
            return np.full(group.shape, -1, dtype=np.int64)
        # The rank of ``t`` counts the event times below it, so "key below" means "earlier".
        query = group.astype(np.int64) * (self.times.size + 1) + _searchsorted(self.times, t)
        j = _searchsorted(self.keys, query) - 1
        k = np.maximum(j, 0)
        return np.where((j >= 0) & (self.group[k] == group), self.order[k], -1)


def _searchsorted(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.searchsorted(keys, values)`` (left), with ``values`` sorted first: in order, each
    search starts where the previous one ended, several times faster than scattered lookups."""
    order = np.argsort(values)
    found = np.empty(values.size, dtype=np.int64)
    found[order] = np.searchsorted(keys, values[order])
    return found


def days_since(event_t: np.ndarray, last: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Days from the event ``last`` points at (see :meth:`History.last_before`) to ``t``;
    ``NO_PURCHASE_DAYS`` where there is none."""
    if event_t.size == 0:
        return np.full(t.shape, NO_PURCHASE_DAYS)
    return np.where(last >= 0, (t - event_t[np.maximum(last, 0)]) / US_PER_DAY, NO_PURCHASE_DAYS)


def names_category(favourite: np.ndarray, last: np.ndarray, category: np.ndarray) -> np.ndarray:
    """Whether the quiz answer ``last`` points at named ``category`` (False where none)."""
    if favourite.size == 0:
        return np.zeros(category.shape, dtype=bool)
    return (last >= 0) & (favourite[np.maximum(last, 0)] == category)


@dataclass(frozen=True)
class OfferArrays:
    """The offer catalogue as column arrays, for vectorized sampling and evaluation."""

    ids: tuple[str, ...]
    category: np.ndarray
    is_points: np.ndarray
    value_score: np.ndarray
    min_spend: np.ndarray
    valid_from: np.ndarray
    valid_to: np.ndarray
    eligible: np.ndarray  # [card product, offer] -> bool

    @classmethod
    def from_catalogue(cls, offers: list[catalog.Offer]) -> OfferArrays:
        return cls(
            ids=tuple(o.offer_id for o in offers),
            category=np.array([CAT[o.merchant_category] for o in offers]),
            is_points=np.array([o.offer_type == "points" for o in offers]),
            value_score=np.array([o.value_score for o in offers]),
            min_spend=np.array([o.min_spend for o in offers]),
            valid_from=np.array([micros(o.valid_from) for o in offers]),
            valid_to=np.array([micros(o.valid_to) for o in offers]),
            eligible=np.array(
                [[card in o.eligible_card_products for o in offers] for card in CARD_PRODUCTS]
            ),
        )


@dataclass(frozen=True)
class Population:
    """What the utility reads about customers (by index): the hidden state, and the purchases
    and quiz answers that recency and the stated preference come from."""

    pref: np.ndarray  # [customer, category] taste before any drift
    pref_after: np.ndarray  # taste from ``drift_us`` on (``pref`` for customers who do not drift)
    drift_us: np.ndarray
    reward_affinity: np.ndarray
    spend_mult: np.ndarray
    purchase_t: np.ndarray
    by_category: History  # purchases by customer * K + category
    by_customer: History  # purchases by customer
    favourite: np.ndarray  # each quiz answer's category
    answers: History  # quiz answers by customer

    @classmethod
    def create(
        cls,
        pref: np.ndarray,
        pref_after: np.ndarray,
        drift_us: np.ndarray,
        reward_affinity: np.ndarray,
        spend_mult: np.ndarray,
        purchases: tuple[np.ndarray, np.ndarray, np.ndarray],  # customer, time, category
        answers: tuple[np.ndarray, np.ndarray, np.ndarray],  # customer, time, favourite
    ) -> Population:
        purchase_cust, purchase_t, purchase_cat = purchases
        answer_cust, answer_t, favourite = answers
        return cls(
            pref=pref,
            pref_after=pref_after,
            drift_us=drift_us,
            reward_affinity=reward_affinity,
            spend_mult=spend_mult,
            purchase_t=purchase_t,
            by_category=History.of(purchase_cust * K + purchase_cat, purchase_t),
            by_customer=History.of(purchase_cust, purchase_t),
            favourite=favourite,
            answers=History.of(answer_cust, answer_t),
        )


@dataclass(frozen=True)
class Funnel:
    """The hidden chances of each step for a batch of impressions."""

    utility: np.ndarray
    p_view: np.ndarray
    p_click_given_view: np.ndarray
    p_redeem_given_click: np.ndarray

    @property
    def p_click(self) -> np.ndarray:
        return self.p_view * self.p_click_given_view

    @property
    def p_redeem(self) -> np.ndarray:
        return self.p_view * self.p_click_given_view * self.p_redeem_given_click


def impression_utility(
    population: Population,
    offers: OfferArrays,
    cust: np.ndarray,
    offer: np.ndarray,
    t: np.ndarray,
) -> np.ndarray:
    """The hidden utility of showing ``offer`` (catalogue index) to ``cust`` (population index)
    at ``t``: the taste of the moment (after the drift from its instant on) and the purchases
    and quiz answers strictly before ``t``."""
    p, cat = population, offers.category[offer]
    return hidden_utility(
        taste=np.where(t >= p.drift_us[cust], p.pref_after[cust, cat], p.pref[cust, cat]),
        reward_affinity=p.reward_affinity[cust],
        is_points=offers.is_points[offer],
        value_score=offers.value_score[offer],
        min_spend=offers.min_spend[offer],
        mean_ticket=MEAN_TICKET[cat],
        spend_mult=p.spend_mult[cust],
        days_since_category=days_since(
            p.purchase_t, p.by_category.last_before(cust * K + cat, t), t
        ),
        stated_match=names_category(p.favourite, p.answers.last_before(cust, t), cat),
    )


def funnel(
    population: Population,
    offers: OfferArrays,
    cust: np.ndarray,
    offer: np.ndarray,
    t: np.ndarray,
    channel: np.ndarray,
    position: np.ndarray,
) -> Funnel:
    """Every step's chance for impressions of :func:`impression_utility`'s arguments, shown
    through ``channel`` (index into IMPRESSION_CHANNELS) in slot ``position`` (1-based)."""
    utility = impression_utility(population, offers, cust, offer, t)
    last = population.by_customer.last_before(cust, t)
    return Funnel(
        utility=utility,
        p_view=view_probability(channel, days_since(population.purchase_t, last, t), position),
        p_click_given_view=click_given_view(utility),
        p_redeem_given_click=redeem_given_click(utility),
    )
