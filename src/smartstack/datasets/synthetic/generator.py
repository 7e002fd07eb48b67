"""Seeded synthetic data with a known, hidden ground truth.

Customers have a latent taste over merchant categories (a Dirichlet draw around an archetype), an
activity rate, a spend level and a liking for reward points over discounts. Transactions, quiz
answers, offer impressions and clickstream follow from that latent state; a share of dining-heavy
customers drifts to travel part-way through the history. Offer outcomes come from a utility
that depends on the customer's current taste, the offer type and value, spend thresholds,
recency and stated quiz preferences (:mod:`.utility`, shared with the evaluation-only
:mod:`.truth`). The utility is written to ``ground_truth/`` for oracle evaluation only.

Generation runs in fixed-size chunks of customers, each with its own seed derived from
``(seed, chunk_index)``, so output is identical for a seed whatever the number of workers, and
memory stays bounded by the chunk size.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from smartstack.data.manifest import publish
from smartstack.data.schema import (
    AGE_BANDS,
    CARD_PRODUCTS,
    CLICKSTREAM_EVENTS,
    DEVICE_CATEGORIES,
    GROUND_TRUTH_SCHEMAS,
    IMPRESSION_CHANNELS,
    MERCHANT_CATEGORIES,
    OUTCOMES,
    RAW_SCHEMAS,
    REGIONS,
    REWARD_PREFERENCES,
    TIMESTAMP,
    TRANSACTION_CHANNELS,
)
from smartstack.datasets.synthetic import world as catalog
from smartstack.datasets.synthetic.utility import (
    CAT,
    US_PER_DAY,
    K,
    OfferArrays,
    Population,
    funnel,
    micros,
)

US_PER_MINUTE = 60_000_000
US_PER_HOUR = 60 * US_PER_MINUTE
ID_BLOCK = 10**9  # ids are chunk_index * ID_BLOCK + local index: unique and worker-independent


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. ``end`` is the snapshot: no event happens at or after it."""

    customers: int = 10_000
    seed: int = 42
    end: datetime = datetime(2026, 6, 30, tzinfo=UTC)
    history_days: int = 180
    impression_days: int = 60
    requests_per_customer: float = 4.0
    offers_per_request: int = 6
    chunk_size: int = 5_000
    # Share of foodies whose taste drifts to travel. Only the threshold the same uniform draw is
    # compared with: any rate leaves every other generated value as it is (0: a world without
    # drift, for the drift monitor's false-alarm tests).
    foodie_drift_rate: float = catalog.FOODIE_DRIFT_RATE

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.history_days)

    @property
    def impression_start(self) -> datetime:
        return self.end - timedelta(days=self.impression_days)

    @property
    def n_chunks(self) -> int:
        return -(-self.customers // self.chunk_size)


def _ts(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Microseconds since the epoch as a UTC timestamp array (nulls where not ``valid``)."""
    mask = None if valid is None else ~valid
    return pa.array(
        values.astype(np.int64),
        type=RAW_SCHEMAS["transactions"].field("event_timestamp").type,
        mask=mask,
    )


def _pick(values: tuple[str, ...], index: np.ndarray) -> pa.Array:
    return pa.array(values).take(pa.array(index))


def _offers_table(offers: list[catalog.Offer]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "offer_id": o.offer_id,
                "headline": o.headline,
                "merchant_category": o.merchant_category,
                "offer_type": o.offer_type,
                "value": o.value,
                "min_spend": o.min_spend,
                "valid_from": o.valid_from,
                "valid_to": o.valid_to,
                "eligible_card_products": ",".join(o.eligible_card_products),
                "duration_days": None,
                "channels": None,
            }
            for o in offers
        ],
        schema=RAW_SCHEMAS["offers"],
    )


@dataclass(frozen=True)
class _ChunkState:
    """What every table builder of one block of customers shares.

    The builders draw from the one ``rng`` in a fixed order (:func:`_chunk_tables`), so the
    output for a seed depends only on that order, never on which worker runs the chunk.
    """

    cfg: GeneratorConfig
    index: int
    offers: OfferArrays
    rng: np.random.Generator
    n: int  # customers in this chunk
    customer_ids: pa.Array
    start_us: int
    end_us: int

    @classmethod
    def create(cls, config: GeneratorConfig, index: int, offers: OfferArrays) -> _ChunkState:
        first = index * config.chunk_size
        n = min(config.chunk_size, config.customers - first)
        start_us, end_us = micros(config.start), micros(config.end)
        return cls(
            cfg=config,
            index=index,
            offers=offers,
            rng=np.random.default_rng([config.seed, index]),
            n=n,
            customer_ids=pa.array([f"CUST-{i:07d}" for i in range(first, first + n)]),
            start_us=start_us,
            end_us=end_us,
        )

    def ids(self, count: int, offset: int = 0) -> np.ndarray:
        """``count`` row ids in this chunk's block (see ``ID_BLOCK``), from ``offset``."""
        return self.index * ID_BLOCK + offset + np.arange(count, dtype=np.int64)


@dataclass(frozen=True)
class _Latent:
    """Each customer's hidden state, from which every table is sampled (indexed by customer)."""

    archetype: np.ndarray
    pref: np.ndarray  # [customer, category] taste before any drift
    pref_after: np.ndarray  # taste after the drift (``pref`` for customers who do not drift)
    card: np.ndarray  # index into CARD_PRODUCTS
    drifting: np.ndarray
    drift_us: np.ndarray  # when the taste drifts (the snapshot for customers who do not)
    activity: np.ndarray  # purchases per day
    spend_mult: np.ndarray
    reward_affinity: np.ndarray  # liking for points over discounts, 0..1
    quiz_propensity: np.ndarray


@dataclass(frozen=True)
class _Purchases:
    """Transactions sorted by customer, then time: the history recency is read from."""

    cust: np.ndarray
    t: np.ndarray
    cat: np.ndarray


@dataclass(frozen=True)
class _QuizAnswers:
    """Quiz answers sorted by customer, then time: the stated favourite category."""

    cust: np.ndarray
    t: np.ndarray
    favourite: np.ndarray


def _chunk_tables(
    config: GeneratorConfig, chunk_index: int, offers: OfferArrays
) -> dict[str, pa.Table]:
    """Every table for one block of customers.

    The builders share one random generator, so this order is part of the output: moving a
    call, or a draw within a builder, changes every table after it for every seed.
    """
    chunk = _ChunkState.create(config, chunk_index, offers)
    latent = _draw_latent(chunk)
    customers = _customers_table(chunk, latent)
    pii = _customer_pii(chunk)
    purchases = _draw_purchases(chunk, latent)
    transactions = _transactions_table(chunk, latent, purchases)
    answers, quiz = _quiz(chunk, latent)
    requests, outcomes, impressions = _impressions(chunk, latent, purchases, answers)
    return {
        "customers": customers,
        "customer_pii": pii,
        "customer_truth": _customer_truth(chunk, latent),
        "transactions": transactions,
        "quiz_responses": quiz,
        **impressions,
        "clickstream": _clickstream(chunk, latent, requests, outcomes),
    }


# -- customers ---------------------------------------------------------------------------
def _draw_latent(chunk: _ChunkState) -> _Latent:
    """A taste drawn around an archetype, a card, for some foodies a drift to travel, and
    activity, spend and reward levels that depend on the card."""
    rng, n = chunk.rng, chunk.n
    names = list(catalog.ARCHETYPES)
    shares = np.array([catalog.ARCHETYPES[a][0] for a in names])
    base = np.array([catalog.ARCHETYPES[a][1] for a in names])
    archetype = rng.choice(len(names), n, p=shares / shares.sum())
    pref = rng.gamma(base[archetype] * 3.0)
    pref = pref / pref.sum(axis=1, keepdims=True)

    card_p = np.array([catalog.CARD_SHARE[c] for c in CARD_PRODUCTS])
    card = rng.choice(len(CARD_PRODUCTS), n, p=card_p / card_p.sum())

    foodie = names.index("foodie")
    drifting = (archetype == foodie) & (rng.random(n) < chunk.cfg.foodie_drift_rate)
    drift_days_before_end = rng.uniform(30, 75, n)
    drift_us = np.where(
        drifting, chunk.end_us - (drift_days_before_end * US_PER_DAY).astype(np.int64), chunk.end_us
    )
    after = pref.copy()
    moved = np.zeros(n)
    for category, share in catalog.DRIFT_MOVED_SHARE.items():
        taken = after[:, CAT[category]] * share
        after[:, CAT[category]] -= taken
        moved += taken
    after[:, CAT["travel"]] += moved

    sigma = 0.45
    activity = rng.lognormal(np.log(0.55) - sigma**2 / 2, sigma, n)
    spend = np.array([catalog.CARD_SPEND_MULTIPLIER[c] for c in CARD_PRODUCTS])
    spend_mult = spend[card] * rng.lognormal(0.0, 0.25, n)
    beta = np.array([catalog.CARD_REWARD_AFFINITY_BETA[c] for c in CARD_PRODUCTS])
    reward_affinity = rng.beta(beta[card, 0], beta[card, 1])
    quiz_propensity = np.where(rng.random(n) < 0.6, rng.beta(2.0, 2.0, n), 0.0)
    return _Latent(
        archetype=archetype,
        pref=pref,
        pref_after=np.where(drifting[:, None], after, pref),
        card=card,
        drifting=drifting,
        drift_us=drift_us,
        activity=activity,
        spend_mult=spend_mult,
        reward_affinity=reward_affinity,
        quiz_propensity=quiz_propensity,
    )


def _customers_table(chunk: _ChunkState, latent: _Latent) -> pa.Table:
    """The profile a bank holds: card, age band, region, tenure; the stated demographics of
    data sets that have them are null here."""
    rng, n = chunk.rng, chunk.n
    tenure = np.clip(rng.geometric(1 / 40, n), 1, 240).astype(np.int32)
    signup_days = chunk.end_us // US_PER_DAY - np.round(tenure * 30.44).astype(np.int64)
    age = rng.choice(len(AGE_BANDS), n, p=[0.1, 0.24, 0.22, 0.19, 0.15, 0.1])
    region = rng.choice(len(REGIONS), n, p=[0.2, 0.22, 0.2, 0.14, 0.24])
    return pa.Table.from_arrays(
        [
            chunk.customer_ids,
            _pick(CARD_PRODUCTS, latent.card),
            _pick(AGE_BANDS, age),
            _pick(REGIONS, region),
            pa.array(signup_days.astype(np.int32), type=pa.date32()),
            pa.array(tenure),
            pa.array(rng.random(n) < 0.82),
            # Consent by purpose: every generated customer gave all three (a constant, so no
            # random stream moves and every other value stays what it was).
            *(pa.array(np.ones(n, dtype=bool)) for _ in range(3)),
            pa.nulls(n, pa.string()),
            pa.nulls(n, pa.int32()),
            pa.nulls(n, pa.float64()),
        ],
        schema=RAW_SCHEMAS["customers"],
    )


def _customer_pii(chunk: _ChunkState) -> pa.Table:
    """Fictional names, contacts and card numbers, so that redaction has something to redact."""
    rng, n = chunk.rng, chunk.n
    first = np.array(_FIRST_NAMES)[rng.integers(0, len(_FIRST_NAMES), n)]
    last = np.array(_LAST_NAMES)[rng.integers(0, len(_LAST_NAMES), n)]
    serial = rng.integers(1, 1000, n)
    streets = np.array(_STREETS)[rng.integers(0, len(_STREETS), n)]
    cities = np.array(_CITIES)[rng.integers(0, len(_CITIES), n)]
    digits = rng.integers(0, 10, (n, 12))
    return pa.Table.from_arrays(
        [
            chunk.customer_ids,
            pa.array([f"{f} {m}" for f, m in zip(first, last, strict=True)]),
            pa.array(
                [
                    f"{f.lower()}.{m.lower()}{s}@example.com"
                    for f, m, s in zip(first, last, serial, strict=True)
                ]
            ),
            # 555-01xx numbers are reserved for fiction.
            pa.array(
                [
                    f"+1-{a}-555-01{b:02d}"
                    for a, b in zip(rng.integers(201, 990, n), rng.integers(0, 100, n), strict=True)
                ]
            ),
            pa.array(_luhn_card_numbers(digits)),
            pa.array([f"{h} {s}" for h, s in zip(rng.integers(1, 9999, n), streets, strict=True)]),
            pa.array(cities),
            pa.array([f"{z:05d}" for z in rng.integers(1000, 99999, n)]),
        ],
        schema=RAW_SCHEMAS["customer_pii"],
    )


def _customer_truth(chunk: _ChunkState, latent: _Latent) -> pa.Table:
    """The hidden state, for oracle evaluation only."""
    truth = {
        "customer_id": chunk.customer_ids,
        "archetype": _pick(tuple(catalog.ARCHETYPES), latent.archetype),
        "activity_per_day": pa.array(latent.activity),
        "reward_affinity": pa.array(latent.reward_affinity),
        "spend_mult": pa.array(latent.spend_mult),
        "is_drifting": pa.array(latent.drifting),
        "drift_at": _ts(latent.drift_us, latent.drifting),
    }
    for i, c in enumerate(MERCHANT_CATEGORIES):
        truth[f"pref_{c}"] = pa.array(latent.pref[:, i])
    for i, c in enumerate(MERCHANT_CATEGORIES):
        truth[f"pref_after_drift_{c}"] = pa.array(latent.pref_after[:, i])
    return pa.table(truth, schema=GROUND_TRUTH_SCHEMAS["customer_truth"])


# -- transactions ------------------------------------------------------------------------
def _draw_purchases(chunk: _ChunkState, latent: _Latent) -> _Purchases:
    """When each customer buys and in which category: Poisson counts at the customer's rate,
    categories from the taste of the moment, times around each category's peak hour."""
    rng, n = chunk.rng, chunk.n
    start_us, end_us, drift_us = chunk.start_us, chunk.end_us, latent.drift_us
    pre_days = (drift_us - start_us) / US_PER_DAY
    post_days = (end_us - drift_us) / US_PER_DAY
    n_pre = rng.poisson(latent.activity * pre_days)
    n_post = rng.poisson(latent.activity * post_days)
    cust_pre = np.repeat(np.arange(n), n_pre)
    cust_post = np.repeat(np.arange(n), n_post)
    t_pre = start_us + rng.random(cust_pre.size) * (drift_us - start_us)[cust_pre]
    t_post = drift_us[cust_post] + rng.random(cust_post.size) * (end_us - drift_us)[cust_post]
    cat = np.concatenate(
        [_sample_rows(rng, latent.pref, cust_pre), _sample_rows(rng, latent.pref_after, cust_post)]
    )
    cust = np.concatenate([cust_pre, cust_post])
    t = np.concatenate([t_pre, t_post]).astype(np.int64)

    peak = np.array([catalog.CATEGORIES[c].peak_hour for c in MERCHANT_CATEGORIES])
    hour = np.mod(peak[cat] + rng.normal(0.0, 2.5, cat.size), 24.0)
    t = t - np.mod(t, US_PER_DAY) + (hour * US_PER_HOUR).astype(np.int64)
    t = np.clip(t, start_us, end_us - 1)

    order = np.lexsort((t, cust))
    return _Purchases(cust=cust[order], t=t[order], cat=cat[order])


def _transactions_table(chunk: _ChunkState, latent: _Latent, purchases: _Purchases) -> pa.Table:
    """Amount, merchant and channel of each purchase."""
    rng = chunk.rng
    cust, cat = purchases.cust, purchases.cat
    specs = [catalog.CATEGORIES[c] for c in MERCHANT_CATEGORIES]
    mean = np.array([s.mean_amount for s in specs])
    sigma = np.array([s.amount_sigma for s in specs])
    amount = rng.lognormal(
        np.log(mean[cat] * latent.spend_mult[cust]) - sigma[cat] ** 2 / 2, sigma[cat]
    )
    amount = np.maximum(np.round(amount, 2), 0.5)

    n_merchants = np.array([len(s.merchants) for s in specs])
    offsets = np.concatenate([[0], np.cumsum(n_merchants)[:-1]])
    merchant = offsets[cat] + np.floor(n_merchants[cat] * rng.random(cat.size) ** 1.6).astype(
        np.int64
    )
    all_merchants = tuple(m for s in specs for m in s.merchants)

    online = rng.random(cat.size) < np.array([s.online_share for s in specs])[cat]
    channel = np.where(online, 1, np.where(rng.random(cat.size) < 0.45, 2, 0))
    assert TRANSACTION_CHANNELS == ("in_store", "online", "contactless")
    return pa.Table.from_arrays(
        [
            pa.array(chunk.ids(cat.size)),
            chunk.customer_ids.take(pa.array(cust)),
            _ts(purchases.t),
            _pick(all_merchants, merchant),
            _pick(MERCHANT_CATEGORIES, cat),
            pa.array(amount),
            pa.array(np.full(cat.size, "USD")),
            _pick(TRANSACTION_CHANNELS, channel),
        ],
        schema=RAW_SCHEMAS["transactions"],
    )


# -- quiz --------------------------------------------------------------------------------
def _quiz(chunk: _ChunkState, latent: _Latent) -> tuple[_QuizAnswers, pa.Table]:
    """Monthly quiz answers: mostly honest about the taste of the moment, sometimes random."""
    rng, n = chunk.rng, chunk.n
    months = chunk.cfg.history_days // 30
    month_start = chunk.start_us + (15 + 30 * np.arange(months)) * US_PER_DAY
    answered = rng.random((n, months)) < latent.quiz_propensity[:, None]
    cust, month = np.nonzero(answered)
    t = month_start[month] + (rng.exponential(3.0, cust.size) * US_PER_DAY).astype(np.int64)
    keep = t < chunk.end_us
    cust, t = cust[keep], t[keep]
    pref_now = np.where(
        (t >= latent.drift_us[cust])[:, None], latent.pref_after[cust], latent.pref[cust]
    )
    honest = rng.random(cust.size) < 0.7
    favourite = np.where(honest, pref_now.argmax(axis=1), rng.integers(0, K, cust.size))
    likes_rewards = latent.reward_affinity[cust] + rng.normal(0, 0.15, cust.size) > 0.5
    travel = pref_now[:, CAT["travel"]] + rng.normal(0, 0.05, cust.size) > 0.15
    order = np.lexsort((t, cust))
    cust, t, favourite = cust[order], t[order], favourite[order]
    likes_rewards, travel = likes_rewards[order], travel[order]
    table = pa.Table.from_arrays(
        [
            pa.array(chunk.ids(cust.size)),
            chunk.customer_ids.take(pa.array(cust)),
            _ts(t),
            _pick(MERCHANT_CATEGORIES, favourite),
            _pick(REWARD_PREFERENCES, np.where(likes_rewards, 0, 1)),
            pa.array(travel),
        ],
        schema=RAW_SCHEMAS["quiz_responses"],
    )
    return _QuizAnswers(cust=cust, t=t, favourite=favourite), table


# -- impressions -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Requests:
    """Offer requests, and the offers a uniform-random logging policy showed for each.

    ``request_*`` fields have one entry per request; the others one per impression (a request
    shows ``offers_per_request`` offers, in consecutive rows).
    """

    request_cust: np.ndarray
    request_t: np.ndarray
    request_channel: np.ndarray
    request_ids: np.ndarray
    request: np.ndarray  # index of the impression's request
    cust: np.ndarray
    t: np.ndarray
    channel: np.ndarray
    offer: np.ndarray
    position: np.ndarray  # 1-based slot in the request's list


@dataclass(frozen=True)
class _Outcomes:
    """What each impression led to, as observed by the snapshot."""

    viewed: np.ndarray
    clicked: np.ndarray
    redeemed: np.ndarray
    viewed_at: np.ndarray
    clicked_at: np.ndarray
    redeemed_at: np.ndarray


def _draw_requests(chunk: _ChunkState, latent: _Latent) -> _Requests:
    """Requests at a rate that grows with the customer's activity, each showing offers drawn
    uniformly from those valid at the time and eligible for the customer's card."""
    rng, cfg, off = chunk.rng, chunk.cfg, chunk.offers
    engagement = np.clip(np.sqrt(latent.activity / 0.55), 0.4, 2.0)
    req_cust = np.repeat(np.arange(chunk.n), rng.poisson(cfg.requests_per_customer * engagement))
    imp_start = micros(cfg.impression_start)
    req_t = imp_start + (
        rng.random(req_cust.size) * (chunk.end_us - imp_start - US_PER_HOUR)
    ).astype(np.int64)
    req_channel = rng.choice(len(IMPRESSION_CHANNELS), req_cust.size, p=[0.5, 0.3, 0.2])

    available = (
        (off.valid_from[None, :] <= req_t[:, None])
        & (req_t[:, None] < off.valid_to[None, :])
        & off.eligible[latent.card[req_cust]]
    )
    draw = np.where(available, rng.random(available.shape), 2.0)
    k = cfg.offers_per_request
    shown = np.argsort(draw, axis=1)[:, :k]
    req = np.repeat(np.arange(req_cust.size), k)
    return _Requests(
        request_cust=req_cust,
        request_t=req_t,
        request_channel=req_channel,
        request_ids=chunk.ids(req_cust.size),
        request=req,
        cust=req_cust[req],
        t=req_t[req],
        channel=req_channel[req],
        offer=shown.ravel(),
        position=np.tile(np.arange(1, k + 1), req_cust.size),
    )


def _draw_outcomes(
    chunk: _ChunkState,
    requests: _Requests,
    p_view: np.ndarray,
    p_click_given_view: np.ndarray,
    p_redeem_given_click: np.ndarray,
) -> _Outcomes:
    """View, click and redemption draws with their delays; what has not happened by the
    snapshot (or, for a redemption, by the offer's expiry) is not observed."""
    rng, end_us, size = chunk.rng, chunk.end_us, requests.offer.size
    viewed = rng.random(size) < p_view
    clicked = viewed & (rng.random(size) < p_click_given_view)
    redeemed = clicked & (rng.random(size) < p_redeem_given_click)

    view_delay = np.array([2.0, 3.0, 12.0])[requests.channel] * US_PER_HOUR
    viewed_at = requests.t + (rng.exponential(1.0, size) * view_delay).astype(np.int64)
    clicked_at = viewed_at + (rng.exponential(5.0, size) * US_PER_MINUTE).astype(np.int64)
    redeemed_at = clicked_at + (rng.exponential(4.0, size) * US_PER_DAY).astype(np.int64)
    viewed &= viewed_at < end_us
    clicked &= viewed & (clicked_at < end_us)
    redeemed &= clicked & (redeemed_at < np.minimum(end_us, chunk.offers.valid_to[requests.offer]))
    return _Outcomes(viewed, clicked, redeemed, viewed_at, clicked_at, redeemed_at)


def _impressions(
    chunk: _ChunkState, latent: _Latent, purchases: _Purchases, answers: _QuizAnswers
) -> tuple[_Requests, _Outcomes, dict[str, pa.Table]]:
    """Offers shown by a uniform-random logging policy, with outcomes from the true utility.

    Uniform logging keeps the training data free of the previous model's selection bias.
    """
    requests = _draw_requests(chunk, latent)
    population = Population.create(
        pref=latent.pref,
        pref_after=latent.pref_after,
        drift_us=latent.drift_us,
        reward_affinity=latent.reward_affinity,
        spend_mult=latent.spend_mult,
        purchases=(purchases.cust, purchases.t, purchases.cat),
        answers=(answers.cust, answers.t, answers.favourite),
    )
    position = requests.position
    chances = funnel(
        population,
        chunk.offers,
        requests.cust,
        requests.offer,
        requests.t,
        requests.channel,
        position,
    )
    outcomes = _draw_outcomes(
        chunk, requests, chances.p_view, chances.p_click_given_view, chances.p_redeem_given_click
    )
    stage = outcomes.viewed.astype(np.int64) + outcomes.clicked + outcomes.redeemed

    size = requests.offer.size
    impression_ids = chunk.ids(size)
    impressions = pa.Table.from_arrays(
        [
            pa.array(impression_ids),
            pa.array(requests.request_ids[requests.request]),
            chunk.customer_ids.take(pa.array(requests.cust)),
            _pick(chunk.offers.ids, requests.offer),
            _pick(IMPRESSION_CHANNELS, requests.channel),
            pa.array(position.astype(np.int32)),
            _ts(requests.t),
            _ts(outcomes.viewed_at, outcomes.viewed),
            _ts(outcomes.clicked_at, outcomes.clicked),
            _ts(outcomes.redeemed_at, outcomes.redeemed),
            _pick(OUTCOMES, stage),
            pa.nulls(size, TIMESTAMP),
            pa.nulls(size, TIMESTAMP),
        ],
        schema=RAW_SCHEMAS["impressions"],
    )
    truth = pa.Table.from_arrays(
        [
            pa.array(impression_ids),
            pa.array(chances.utility),
            pa.array(chances.p_click),
            pa.array(chances.p_redeem),
        ],
        schema=GROUND_TRUTH_SCHEMAS["impression_truth"],
    )
    return requests, outcomes, {"impressions": impressions, "impression_truth": truth}


# -- clickstream -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Sessions:
    """Browsing sessions: one per offer request, then sessions without one."""

    cust: np.ndarray
    t: np.ndarray
    ids: np.ndarray
    device: np.ndarray


@dataclass(frozen=True)
class _Events:
    """Clickstream events, by index into the sessions."""

    session: np.ndarray
    t: np.ndarray
    event: np.ndarray  # index into CLICKSTREAM_EVENTS
    page: np.ndarray
    offer: np.ndarray  # offer id or None
    term: np.ndarray  # search term or None

    @classmethod
    def concatenate(cls, parts: list[_Events]) -> _Events:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))


def _draw_sessions(chunk: _ChunkState, latent: _Latent, requests: _Requests) -> _Sessions:
    """The offer requests' sessions plus browsing sessions spread over the whole history."""
    rng = chunk.rng
    engagement = np.clip(np.sqrt(latent.activity / 0.55), 0.4, 2.0)
    browse_cust = np.repeat(np.arange(chunk.n), rng.poisson(6.0 * engagement))
    browse_t = chunk.start_us + (
        rng.random(browse_cust.size) * (chunk.end_us - chunk.start_us - US_PER_HOUR)
    ).astype(np.int64)
    cust = np.concatenate([requests.request_cust, browse_cust])
    t = np.concatenate([requests.request_t, browse_t])
    ids = np.concatenate([requests.request_ids, chunk.ids(browse_cust.size, ID_BLOCK // 2)])
    browse_channel = rng.choice(2, browse_cust.size, p=[0.6, 0.4])
    channel = np.concatenate([requests.request_channel, browse_channel])
    device_by_channel = np.array([[0.92, 0.02, 0.06], [0.2, 0.7, 0.1], [0.6, 0.35, 0.05]])
    u = rng.random(cust.size)
    device = (u[:, None] > np.cumsum(device_by_channel[channel], axis=1)).sum(1)
    return _Sessions(cust=cust, t=t, ids=ids, device=device)


def _page_views(chunk: _ChunkState, sessions: _Sessions) -> _Events:
    """1 + Poisson(2) page views per session, a few minutes apart."""
    rng = chunk.rng
    n_views = 1 + rng.poisson(2.0, sessions.cust.size)
    session = np.repeat(np.arange(sessions.cust.size), n_views)
    t = sessions.t[session] + (rng.random(session.size) * 10 * US_PER_MINUTE).astype(np.int64)
    page = np.array(_PAGES, dtype=object)[rng.integers(0, len(_PAGES), session.size)]
    none = np.full(session.size, None, dtype=object)
    return _Events(session, t, np.zeros(session.size, int), page, none, none)


def _searches(chunk: _ChunkState, latent: _Latent, sessions: _Sessions) -> _Events:
    """Searches in about a third of sessions, revealing current taste: a term from a category
    drawn from it."""
    rng = chunk.rng
    searched = rng.random(sessions.cust.size) < 0.35
    session = np.nonzero(searched)[0]
    t = sessions.t[session] + (rng.random(session.size) * 10 * US_PER_MINUTE).astype(np.int64)
    cust = sessions.cust[session]
    drifted = t >= latent.drift_us[cust]
    cat = np.where(
        drifted,
        _sample_rows(rng, latent.pref_after, cust),
        _sample_rows(rng, latent.pref, cust),
    )
    terms = [catalog.CATEGORIES[c].search_terms for c in MERCHANT_CATEGORIES]
    term = [
        terms[c][i % len(terms[c])]
        for c, i in zip(cat, rng.integers(0, 100, session.size), strict=True)
    ]
    page = np.array([f"{_SITE}/search" for _ in range(session.size)], dtype=object)
    none = np.full(session.size, None, dtype=object)
    return _Events(session, t, np.ones(session.size, int), page, none, np.array(term, dtype=object))


def _promotion_events(chunk: _ChunkState, requests: _Requests, outcomes: _Outcomes) -> _Events:
    """View and click events of the impressions, in their requests' sessions."""
    v = np.nonzero(outcomes.viewed)[0]
    c = np.nonzero(outcomes.clicked)[0]
    offer_ids = np.array(chunk.offers.ids, dtype=object)[
        np.concatenate([requests.offer[v], requests.offer[c]])
    ]
    return _Events(
        session=np.concatenate([requests.request[v], requests.request[c]]),
        t=np.concatenate([outcomes.viewed_at[v], outcomes.clicked_at[c]]),
        event=np.concatenate([np.full(v.size, 2), np.full(c.size, 3)]),
        page=np.array([f"{_SITE}/offers/{o}" for o in offer_ids], dtype=object),
        offer=offer_ids,
        term=np.full(v.size + c.size, None, dtype=object),
    )


def _clickstream(
    chunk: _ChunkState, latent: _Latent, requests: _Requests, outcomes: _Outcomes
) -> pa.Table:
    """GA4-shaped events: page views and searches per session plus promotion events."""
    sessions = _draw_sessions(chunk, latent, requests)
    events = _Events.concatenate(
        [
            _page_views(chunk, sessions),
            _searches(chunk, latent, sessions),
            _promotion_events(chunk, requests, outcomes),
        ]
    )
    cust = sessions.cust[events.session]
    order = np.lexsort((events.t, cust))
    order = order[events.t[order] < chunk.end_us]  # promotion events after the snapshot: unseen
    session = events.session[order]
    return pa.Table.from_arrays(
        [
            pa.array(chunk.ids(order.size)),
            chunk.customer_ids.take(pa.array(cust[order])),
            pa.array(sessions.ids[session]),
            _ts(events.t[order]),
            _pick(CLICKSTREAM_EVENTS, events.event[order]),
            pa.array(events.page[order], type=pa.string()),
            pa.array(events.offer[order], type=pa.string()),
            pa.array(events.term[order], type=pa.string()),
            _pick(DEVICE_CATEGORIES, sessions.device[session]),
        ],
        schema=RAW_SCHEMAS["clickstream"],
    )


def _sample_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One categorical draw per row index from that row's probability vector."""
    cdf = np.cumsum(probs, axis=1)[rows]
    u = rng.random(rows.size) * cdf[:, -1]
    return np.minimum((u[:, None] > cdf).sum(axis=1), probs.shape[1] - 1)


def _luhn_card_numbers(digits: np.ndarray) -> list[str]:
    """15-digit, Luhn-valid numbers in a charge-card layout (prefix 37), for PII realism."""
    body = np.concatenate([np.tile([3, 7], (digits.shape[0], 1)), digits], axis=1)  # 14 digits
    doubled = body[:, ::-1].copy()
    doubled[:, ::2] *= 2  # rightmost body digit is doubled once the check digit is appended
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    check = (10 - doubled.sum(axis=1) % 10) % 10
    full = np.concatenate([body, check[:, None]], axis=1)
    return ["".join(map(str, row)) for row in full]


TABLE_GROUPS: dict[str, str] = {
    **{t: "raw" for t in RAW_SCHEMAS},
    **{t: "ground_truth" for t in GROUND_TRUTH_SCHEMAS},
}


def _write_chunk(
    config: GeneratorConfig, chunk_index: int, offers: OfferArrays, staging: Path
) -> dict[str, int]:
    tables = _chunk_tables(config, chunk_index, offers)
    for name, table in tables.items():
        folder = staging / TABLE_GROUPS[name] / name
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / f"part-{chunk_index:05d}.parquet")
    return {name: table.num_rows for name, table in tables.items()}


def generate(
    config: GeneratorConfig,
    out_dir: Path,
    workers: int | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write every raw and ground-truth table under ``out_dir`` and return row counts.

    Output is staged and then swapped in, so an interrupted run never leaves a half-written
    data set where the pipeline reads, and a rerun with the same config gives identical files.
    """
    if config.customers < 1:
        raise ValueError("customers must be at least 1")
    out_dir = Path(out_dir)
    staging = out_dir / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    offers = catalog.build_offer_catalogue(config.impression_start, config.end)
    offer_arrays = OfferArrays.from_catalogue(offers)
    (staging / "raw" / "offers").mkdir(parents=True)
    pq.write_table(_offers_table(offers), staging / "raw" / "offers" / "part-00000.parquet")

    counts: dict[str, int] = {"offers": len(offers)}
    workers = max(1, min(workers or os.cpu_count() or 1, config.n_chunks))
    done = 0
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(_write_chunk, config, i, offer_arrays, staging)
            for i in range(config.n_chunks)
        ]
        for future in as_completed(futures):
            for name, rows in future.result().items():
                counts[name] = counts.get(name, 0) + rows
            done += 1
            if on_chunk:
                on_chunk(done, config.n_chunks)

    manifest = {
        "generator": "smartstack.synthetic",
        "config": {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(config).items()
        },
        "start": config.start.isoformat(),
        "impression_start": config.impression_start.isoformat(),
        "snapshot": config.end.isoformat(),
        "row_counts": dict(sorted(counts.items())),
    }
    publish(staging, out_dir, manifest, ("raw", "ground_truth"))
    return manifest["row_counts"]


_SITE = "https://app.smartstack.example"
_PAGES = tuple(
    f"{_SITE}{p}" for p in ("/home", "/offers", "/rewards", "/account", "/statements", "/quiz")
)
_FIRST_NAMES = (
    "Ava",
    "Liam",
    "Maya",
    "Noah",
    "Zoe",
    "Ethan",
    "Lena",
    "Omar",
    "Priya",
    "Diego",
    "Hana",
    "Lucas",
    "Amara",
    "Felix",
    "Sofia",
    "Mateo",
    "Chloe",
    "Ravi",
    "Nora",
    "Kenji",
    "Isla",
    "Jonah",
    "Leila",
    "Marcus",
    "Elena",
    "Tariq",
    "Grace",
    "Ivan",
    "Mei",
    "Samuel",
)
_LAST_NAMES = (
    "Okafor",
    "Lindqvist",
    "Moreno",
    "Chen",
    "Patel",
    "Novak",
    "Haddad",
    "Kowalski",
    "Tanaka",
    "Silva",
    "Brennan",
    "Adeyemi",
    "Fischer",
    "Rossi",
    "Nguyen",
    "Larsen",
    "Mendes",
    "Ibrahim",
    "Schultz",
    "Park",
    "Dubois",
    "Castillo",
    "Andersen",
    "Kaur",
)
_STREETS = (
    "Maple Ave",
    "Oak St",
    "Harbor Rd",
    "Cedar Ln",
    "Elm St",
    "Sunset Blvd",
    "Riverside Dr",
    "Hillcrest Way",
    "Lakeview Ct",
    "Mill Rd",
)
_CITIES = (
    "Springfield",
    "Riverton",
    "Lakeside",
    "Fairview",
    "Georgetown",
    "Franklin",
    "Clinton",
    "Madison",
    "Arlington",
    "Salem",
)
