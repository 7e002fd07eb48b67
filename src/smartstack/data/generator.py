"""Seeded synthetic data with a known, hidden ground truth.

Customers have a latent taste over merchant categories (a Dirichlet draw around an archetype), an
activity rate, a spend level and a liking for reward points over discounts. Transactions, quiz
answers, offer impressions and clickstream follow from that latent state; a share of dining-heavy
customers drifts to travel part-way through the history. Offer outcomes come from a utility
that depends on the customer's current taste, the offer type and value, spend thresholds,
recency and stated quiz preferences. The utility is written to ``ground_truth/`` for oracle
evaluation only.

Generation runs in fixed-size chunks of customers, each with its own seed derived from
``(seed, chunk_index)``, so output is identical for a seed whatever the number of workers, and
memory stays bounded by the chunk size.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from smartstack.data import catalog
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

US_PER_MINUTE = 60_000_000
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR
ID_BLOCK = 10**9  # ids are chunk_index * ID_BLOCK + local index: unique and worker-independent
K = len(MERCHANT_CATEGORIES)
CAT = {c: i for i, c in enumerate(MERCHANT_CATEGORIES)}


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

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.history_days)

    @property
    def impression_start(self) -> datetime:
        return self.end - timedelta(days=self.impression_days)

    @property
    def n_chunks(self) -> int:
        return -(-self.customers // self.chunk_size)


def _us(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000)


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


@dataclass(frozen=True)
class _OfferArrays:
    """The offer catalogue as column arrays, for vectorized sampling."""

    ids: tuple[str, ...]
    category: np.ndarray
    is_points: np.ndarray
    value_score: np.ndarray
    min_spend: np.ndarray
    valid_from: np.ndarray
    valid_to: np.ndarray
    eligible: np.ndarray  # [card product, offer] -> bool

    @classmethod
    def from_catalogue(cls, offers: list[catalog.Offer]) -> _OfferArrays:
        return cls(
            ids=tuple(o.offer_id for o in offers),
            category=np.array([CAT[o.merchant_category] for o in offers]),
            is_points=np.array([o.offer_type == "points" for o in offers]),
            value_score=np.array([o.value_score for o in offers]),
            min_spend=np.array([o.min_spend for o in offers]),
            valid_from=np.array([_us(o.valid_from) for o in offers]),
            valid_to=np.array([_us(o.valid_to) for o in offers]),
            eligible=np.array(
                [[card in o.eligible_card_products for o in offers] for card in CARD_PRODUCTS]
            ),
        )


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


def _last_before(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of the last sorted key strictly below each query key (-1 when there is none)."""
    return np.searchsorted(keys, query, side="left") - 1


class _Chunk:
    """Samples every table for one block of customers."""

    def __init__(self, config: GeneratorConfig, chunk_index: int, offers: _OfferArrays) -> None:
        self.cfg = config
        self.chunk = chunk_index
        self.offers = offers
        self.rng = np.random.default_rng([config.seed, chunk_index])
        first = chunk_index * config.chunk_size
        self.n = min(config.chunk_size, config.customers - first)
        self.customer_ids = pa.array([f"CUST-{i:07d}" for i in range(first, first + self.n)])
        self.start_us = _us(config.start)
        self.end_us = _us(config.end)
        # Per-customer composite keys (customer, time) need a span wider than the history.
        self.span = self.end_us - self.start_us + US_PER_DAY

    def _id(self, count: int, offset: int = 0) -> np.ndarray:
        return self.chunk * ID_BLOCK + offset + np.arange(count, dtype=np.int64)

    # -- customers -----------------------------------------------------------------------
    def customers(self) -> dict[str, pa.Table]:
        rng, n = self.rng, self.n
        names = list(catalog.ARCHETYPES)
        shares = np.array([catalog.ARCHETYPES[a][0] for a in names])
        base = np.array([catalog.ARCHETYPES[a][1] for a in names])
        self.archetype = rng.choice(len(names), n, p=shares / shares.sum())
        pref = rng.gamma(base[self.archetype] * 3.0)
        self.pref = pref / pref.sum(axis=1, keepdims=True)

        card_p = np.array([catalog.CARD_SHARE[c] for c in CARD_PRODUCTS])
        self.card = rng.choice(len(CARD_PRODUCTS), n, p=card_p / card_p.sum())

        foodie = names.index("foodie")
        self.drifting = (self.archetype == foodie) & (rng.random(n) < catalog.FOODIE_DRIFT_RATE)
        drift_days_before_end = rng.uniform(30, 75, n)
        self.drift_us = np.where(
            self.drifting,
            self.end_us - (drift_days_before_end * US_PER_DAY).astype(np.int64),
            self.end_us,
        )
        after = self.pref.copy()
        moved = np.zeros(n)
        for category, share in catalog.DRIFT_MOVED_SHARE.items():
            taken = after[:, CAT[category]] * share
            after[:, CAT[category]] -= taken
            moved += taken
        after[:, CAT["travel"]] += moved
        self.pref_after = np.where(self.drifting[:, None], after, self.pref)

        sigma = 0.45
        self.activity = rng.lognormal(np.log(0.55) - sigma**2 / 2, sigma, n)
        spend = np.array([catalog.CARD_SPEND_MULTIPLIER[c] for c in CARD_PRODUCTS])
        self.spend_mult = spend[self.card] * rng.lognormal(0.0, 0.25, n)
        beta = np.array([catalog.CARD_REWARD_AFFINITY_BETA[c] for c in CARD_PRODUCTS])
        self.reward_affinity = rng.beta(beta[self.card, 0], beta[self.card, 1])
        self.quiz_propensity = np.where(rng.random(n) < 0.6, rng.beta(2.0, 2.0, n), 0.0)

        tenure = np.clip(rng.geometric(1 / 40, n), 1, 240).astype(np.int32)
        signup_days = self.end_us // US_PER_DAY - np.round(tenure * 30.44).astype(np.int64)
        age = rng.choice(len(AGE_BANDS), n, p=[0.1, 0.24, 0.22, 0.19, 0.15, 0.1])
        region = rng.choice(len(REGIONS), n, p=[0.2, 0.22, 0.2, 0.14, 0.24])
        customers = pa.Table.from_arrays(
            [
                self.customer_ids,
                _pick(CARD_PRODUCTS, self.card),
                _pick(AGE_BANDS, age),
                _pick(REGIONS, region),
                pa.array(signup_days.astype(np.int32), type=pa.date32()),
                pa.array(tenure),
                pa.array(rng.random(n) < 0.82),
                pa.nulls(n, pa.string()),
                pa.nulls(n, pa.int32()),
                pa.nulls(n, pa.float64()),
            ],
            schema=RAW_SCHEMAS["customers"],
        )
        truth = {
            "customer_id": self.customer_ids,
            "archetype": _pick(tuple(names), self.archetype),
            "activity_per_day": pa.array(self.activity),
            "reward_affinity": pa.array(self.reward_affinity),
            "is_drifting": pa.array(self.drifting),
            "drift_at": _ts(self.drift_us, self.drifting),
        }
        for i, c in enumerate(MERCHANT_CATEGORIES):
            truth[f"pref_{c}"] = pa.array(self.pref[:, i])
        for i, c in enumerate(MERCHANT_CATEGORIES):
            truth[f"pref_after_drift_{c}"] = pa.array(self.pref_after[:, i])
        return {
            "customers": customers,
            "customer_pii": self._pii(),
            "customer_truth": pa.table(truth, schema=GROUND_TRUTH_SCHEMAS["customer_truth"]),
        }

    def _pii(self) -> pa.Table:
        rng, n = self.rng, self.n
        first = np.array(_FIRST_NAMES)[rng.integers(0, len(_FIRST_NAMES), n)]
        last = np.array(_LAST_NAMES)[rng.integers(0, len(_LAST_NAMES), n)]
        serial = rng.integers(1, 1000, n)
        streets = np.array(_STREETS)[rng.integers(0, len(_STREETS), n)]
        cities = np.array(_CITIES)[rng.integers(0, len(_CITIES), n)]
        digits = rng.integers(0, 10, (n, 12))
        return pa.Table.from_arrays(
            [
                self.customer_ids,
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
                        for a, b in zip(
                            rng.integers(201, 990, n), rng.integers(0, 100, n), strict=True
                        )
                    ]
                ),
                pa.array(_luhn_card_numbers(digits)),
                pa.array(
                    [f"{h} {s}" for h, s in zip(rng.integers(1, 9999, n), streets, strict=True)]
                ),
                pa.array(cities),
                pa.array([f"{z:05d}" for z in rng.integers(1000, 99999, n)]),
            ],
            schema=RAW_SCHEMAS["customer_pii"],
        )

    # -- transactions ---------------------------------------------------------------------
    def transactions(self) -> pa.Table:
        rng, n = self.rng, self.n
        pre_days = (self.drift_us - self.start_us) / US_PER_DAY
        post_days = (self.end_us - self.drift_us) / US_PER_DAY
        n_pre = rng.poisson(self.activity * pre_days)
        n_post = rng.poisson(self.activity * post_days)
        cust_pre = np.repeat(np.arange(n), n_pre)
        cust_post = np.repeat(np.arange(n), n_post)
        t_pre = (
            self.start_us + rng.random(cust_pre.size) * (self.drift_us - self.start_us)[cust_pre]
        )
        t_post = (
            self.drift_us[cust_post]
            + rng.random(cust_post.size) * (self.end_us - self.drift_us)[cust_post]
        )
        cat = np.concatenate(
            [_sample_rows(rng, self.pref, cust_pre), _sample_rows(rng, self.pref_after, cust_post)]
        )
        cust = np.concatenate([cust_pre, cust_post])
        t = np.concatenate([t_pre, t_post]).astype(np.int64)

        specs = [catalog.CATEGORIES[c] for c in MERCHANT_CATEGORIES]
        peak = np.array([s.peak_hour for s in specs])
        hour = np.mod(peak[cat] + rng.normal(0.0, 2.5, cat.size), 24.0)
        t = t - np.mod(t, US_PER_DAY) + (hour * US_PER_HOUR).astype(np.int64)
        t = np.clip(t, self.start_us, self.end_us - 1)

        order = np.lexsort((t, cust))
        cust, t, cat = cust[order], t[order], cat[order]
        self.tx_cust, self.tx_t, self.tx_cat = cust, t, cat

        mean = np.array([s.mean_amount for s in specs])
        sigma = np.array([s.amount_sigma for s in specs])
        amount = rng.lognormal(
            np.log(mean[cat] * self.spend_mult[cust]) - sigma[cat] ** 2 / 2, sigma[cat]
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
                pa.array(self._id(cat.size)),
                self.customer_ids.take(pa.array(cust)),
                _ts(t),
                _pick(all_merchants, merchant),
                _pick(MERCHANT_CATEGORIES, cat),
                pa.array(amount),
                pa.array(np.full(cat.size, "USD")),
                _pick(TRANSACTION_CHANNELS, channel),
            ],
            schema=RAW_SCHEMAS["transactions"],
        )

    # -- quiz -----------------------------------------------------------------------------
    def quiz(self) -> pa.Table:
        rng, n = self.rng, self.n
        months = self.cfg.history_days // 30
        month_start = self.start_us + (15 + 30 * np.arange(months)) * US_PER_DAY
        answered = rng.random((n, months)) < self.quiz_propensity[:, None]
        cust, month = np.nonzero(answered)
        t = month_start[month] + (rng.exponential(3.0, cust.size) * US_PER_DAY).astype(np.int64)
        keep = t < self.end_us
        cust, t = cust[keep], t[keep]
        pref_now = np.where(
            (t >= self.drift_us[cust])[:, None], self.pref_after[cust], self.pref[cust]
        )
        honest = rng.random(cust.size) < 0.7
        favourite = np.where(honest, pref_now.argmax(axis=1), rng.integers(0, K, cust.size))
        likes_rewards = self.reward_affinity[cust] + rng.normal(0, 0.15, cust.size) > 0.5
        travel = pref_now[:, CAT["travel"]] + rng.normal(0, 0.05, cust.size) > 0.15
        order = np.lexsort((t, cust))
        cust, t, favourite = cust[order], t[order], favourite[order]
        likes_rewards, travel = likes_rewards[order], travel[order]
        self.quiz_cust, self.quiz_t, self.quiz_fav = cust, t, favourite
        return pa.Table.from_arrays(
            [
                pa.array(self._id(cust.size)),
                self.customer_ids.take(pa.array(cust)),
                _ts(t),
                _pick(MERCHANT_CATEGORIES, favourite),
                _pick(REWARD_PREFERENCES, np.where(likes_rewards, 0, 1)),
                pa.array(travel),
            ],
            schema=RAW_SCHEMAS["quiz_responses"],
        )

    # -- impressions ----------------------------------------------------------------------
    def impressions(self) -> dict[str, pa.Table]:
        """Offers shown by a uniform-random logging policy, with outcomes from the true utility.

        Uniform logging keeps the training data free of the previous model's selection bias.
        """
        rng, cfg, off = self.rng, self.cfg, self.offers
        engagement = np.clip(np.sqrt(self.activity / 0.55), 0.4, 2.0)
        req_cust = np.repeat(np.arange(self.n), rng.poisson(cfg.requests_per_customer * engagement))
        imp_start = _us(cfg.impression_start)
        req_t = imp_start + (
            rng.random(req_cust.size) * (self.end_us - imp_start - US_PER_HOUR)
        ).astype(np.int64)
        req_channel = rng.choice(len(IMPRESSION_CHANNELS), req_cust.size, p=[0.5, 0.3, 0.2])

        available = (
            (off.valid_from[None, :] <= req_t[:, None])
            & (req_t[:, None] < off.valid_to[None, :])
            & off.eligible[self.card[req_cust]]
        )
        draw = np.where(available, rng.random(available.shape), 2.0)
        shown = np.argsort(draw, axis=1)[:, : cfg.offers_per_request]
        k = cfg.offers_per_request
        offer = shown.ravel()
        req = np.repeat(np.arange(req_cust.size), k)
        cust, t, channel = req_cust[req], req_t[req], req_channel[req]
        position = np.tile(np.arange(1, k + 1), req_cust.size)
        cat = off.category[offer]

        # Recency: days since the customer's last purchase in the offer's category, and in any.
        cat_keys = (self.tx_cust * K + self.tx_cat) * self.span + (self.tx_t - self.start_us)
        cat_order = np.argsort(cat_keys, kind="stable")
        cat_keys = cat_keys[cat_order]
        q = (cust * K + cat) * self.span + (t - self.start_us)
        j = _last_before(cat_keys, q)
        found = (j >= 0) & (cat_keys[np.maximum(j, 0)] // self.span == cust * K + cat)
        last_cat_t = self.tx_t[cat_order][np.maximum(j, 0)]
        days_since_cat = np.where(found, (t - last_cat_t) / US_PER_DAY, 90.0).clip(0, 90)
        any_keys = self.tx_cust * self.span + (self.tx_t - self.start_us)
        j = _last_before(any_keys, cust * self.span + (t - self.start_us))
        found = (j >= 0) & (self.tx_cust[np.maximum(j, 0)] == cust)
        days_since_any = np.where(found, (t - self.tx_t[np.maximum(j, 0)]) / US_PER_DAY, 90.0)

        # The quiz answer the customer gave most recently before seeing the offer.
        quiz_keys = self.quiz_cust * self.span + (self.quiz_t - self.start_us)
        j = _last_before(quiz_keys, cust * self.span + (t - self.start_us))
        answered = (j >= 0) & (self.quiz_cust[np.maximum(j, 0)] == cust)
        stated_match = answered & (self.quiz_fav[np.maximum(j, 0)] == cat)

        taste = np.where(t >= self.drift_us[cust], self.pref_after[cust, cat], self.pref[cust, cat])
        type_fit = np.where(
            off.is_points[offer], self.reward_affinity[cust], 1.0 - self.reward_affinity[cust]
        )
        mean_ticket = np.array([catalog.CATEGORIES[c].mean_amount for c in MERCHANT_CATEGORIES])
        stretch = np.log(
            np.maximum(off.min_spend[offer], 1.0) / (mean_ticket[cat] * self.spend_mult[cust])
        )
        utility = (
            1.6 * np.log(taste * K + 0.05)
            + 2.4 * (type_fit - 0.5)
            + 1.2 * off.value_score[offer]
            - 0.5 * np.maximum(stretch, 0.0)
            - 0.35 * np.log1p(days_since_cat / 7.0)
            + 0.6 * stated_match
            - 0.6
        )

        base_view = np.array([0.75, 0.6, 0.4])[channel]
        p_view = base_view * (0.55 + 0.45 * np.exp(-days_since_any / 14.0)) * 0.97 ** (position - 1)
        p_click_given_view = _sigmoid(utility)
        p_redeem_given_click = _sigmoid(utility + 1.0)
        viewed = rng.random(offer.size) < p_view
        clicked = viewed & (rng.random(offer.size) < p_click_given_view)
        redeemed = clicked & (rng.random(offer.size) < p_redeem_given_click)

        view_delay = np.array([2.0, 3.0, 12.0])[channel] * US_PER_HOUR
        viewed_at = t + (rng.exponential(1.0, offer.size) * view_delay).astype(np.int64)
        clicked_at = viewed_at + (rng.exponential(5.0, offer.size) * US_PER_MINUTE).astype(np.int64)
        redeemed_at = clicked_at + (rng.exponential(4.0, offer.size) * US_PER_DAY).astype(np.int64)
        # What has not happened by the snapshot (or after the offer expired) is not observed.
        viewed &= viewed_at < self.end_us
        clicked &= viewed & (clicked_at < self.end_us)
        redeemed &= clicked & (redeemed_at < np.minimum(self.end_us, off.valid_to[offer]))
        stage = viewed.astype(np.int64) + clicked + redeemed

        request_ids = self._id(req_cust.size)
        impression_ids = self._id(offer.size)
        self.imp = {
            "cust": cust,
            "t": t,
            "offer": offer,
            "channel": channel,
            "request": req,
            "viewed": viewed,
            "clicked": clicked,
            "viewed_at": viewed_at,
            "clicked_at": clicked_at,
            "request_ids": request_ids,
        }
        impressions = pa.Table.from_arrays(
            [
                pa.array(impression_ids),
                pa.array(request_ids[req]),
                self.customer_ids.take(pa.array(cust)),
                _pick(off.ids, offer),
                _pick(IMPRESSION_CHANNELS, channel),
                pa.array(position.astype(np.int32)),
                _ts(t),
                _ts(viewed_at, viewed),
                _ts(clicked_at, clicked),
                _ts(redeemed_at, redeemed),
                _pick(OUTCOMES, stage),
                pa.nulls(offer.size, TIMESTAMP),
                pa.nulls(offer.size, TIMESTAMP),
            ],
            schema=RAW_SCHEMAS["impressions"],
        )
        truth = pa.Table.from_arrays(
            [
                pa.array(impression_ids),
                pa.array(utility),
                pa.array(p_view * p_click_given_view),
                pa.array(p_view * p_click_given_view * p_redeem_given_click),
            ],
            schema=GROUND_TRUTH_SCHEMAS["impression_truth"],
        )
        return {"impressions": impressions, "impression_truth": truth}

    # -- clickstream ----------------------------------------------------------------------
    def clickstream(self) -> pa.Table:
        """GA4-shaped events: page views and searches per session plus promotion events."""
        rng, imp = self.rng, self.imp
        req_cust = imp["cust"][:: self.cfg.offers_per_request]
        req_t = imp["t"][:: self.cfg.offers_per_request]
        req_channel = imp["channel"][:: self.cfg.offers_per_request]
        # Browsing sessions without an offer request, spread over the whole history.
        engagement = np.clip(np.sqrt(self.activity / 0.55), 0.4, 2.0)
        browse_cust = np.repeat(np.arange(self.n), rng.poisson(6.0 * engagement))
        browse_t = self.start_us + (
            rng.random(browse_cust.size) * (self.end_us - self.start_us - US_PER_HOUR)
        ).astype(np.int64)
        sess_cust = np.concatenate([req_cust, browse_cust])
        sess_t = np.concatenate([req_t, browse_t])
        sess_id = np.concatenate([imp["request_ids"], self._id(browse_cust.size, ID_BLOCK // 2)])
        sess_channel = np.concatenate([req_channel, rng.choice(2, browse_cust.size, p=[0.6, 0.4])])
        device_by_channel = np.array([[0.92, 0.02, 0.06], [0.2, 0.7, 0.1], [0.6, 0.35, 0.05]])
        u = rng.random(sess_cust.size)
        sess_device = (u[:, None] > np.cumsum(device_by_channel[sess_channel], axis=1)).sum(1)

        # Page views: 1 + Poisson(2) per session, a few minutes apart.
        n_views = 1 + rng.poisson(2.0, sess_cust.size)
        pv_sess = np.repeat(np.arange(sess_cust.size), n_views)
        pv_t = sess_t[pv_sess] + (rng.random(pv_sess.size) * 10 * US_PER_MINUTE).astype(np.int64)
        pv_page = rng.integers(0, len(_PAGES), pv_sess.size)

        # Searches reveal current taste: a term from a category drawn from it.
        searched = rng.random(sess_cust.size) < 0.35
        s_sess = np.nonzero(searched)[0]
        s_t = sess_t[s_sess] + (rng.random(s_sess.size) * 10 * US_PER_MINUTE).astype(np.int64)
        s_cust = sess_cust[s_sess]
        drifted = s_t >= self.drift_us[s_cust]
        s_cat = np.where(
            drifted,
            _sample_rows(rng, self.pref_after, s_cust),
            _sample_rows(rng, self.pref, s_cust),
        )
        terms = [catalog.CATEGORIES[c].search_terms for c in MERCHANT_CATEGORIES]
        s_term = [
            terms[c][i % len(terms[c])]
            for c, i in zip(s_cat, rng.integers(0, 100, s_sess.size), strict=True)
        ]

        # Promotion events come from the impressions themselves.
        v = np.nonzero(imp["viewed"])[0]
        c = np.nonzero(imp["clicked"])[0]
        promo_sess = np.concatenate([imp["request"][v], imp["request"][c]])
        promo_t = np.concatenate([imp["viewed_at"][v], imp["clicked_at"][c]])
        promo_offer = np.concatenate([imp["offer"][v], imp["offer"][c]])
        promo_event = np.concatenate([np.full(v.size, 2), np.full(c.size, 3)])

        session = np.concatenate([pv_sess, s_sess, promo_sess])
        t = np.concatenate([pv_t, s_t, promo_t])
        event = np.concatenate(
            [np.zeros(pv_sess.size, int), np.ones(s_sess.size, int), promo_event]
        )
        offer_ids = np.array(self.offers.ids, dtype=object)
        page = np.concatenate(
            [
                np.array(_PAGES, dtype=object)[pv_page],
                np.array([f"{_SITE}/search" for _ in range(s_sess.size)], dtype=object),
                np.array([f"{_SITE}/offers/{o}" for o in offer_ids[promo_offer]], dtype=object),
            ]
        )
        offer = np.concatenate(
            [np.full(pv_sess.size + s_sess.size, None, dtype=object), offer_ids[promo_offer]]
        )
        term = np.concatenate(
            [
                np.full(pv_sess.size, None, dtype=object),
                np.array(s_term, dtype=object),
                np.full(promo_sess.size, None, dtype=object),
            ]
        )
        cust = sess_cust[session]
        order = np.lexsort((t, cust))
        order = order[t[order] < self.end_us]  # promotion events after the snapshot are unseen
        return pa.Table.from_arrays(
            [
                pa.array(self._id(order.size)),
                self.customer_ids.take(pa.array(cust[order])),
                pa.array(sess_id[session[order]]),
                _ts(t[order]),
                _pick(CLICKSTREAM_EVENTS, event[order]),
                pa.array(page[order], type=pa.string()),
                pa.array(offer[order], type=pa.string()),
                pa.array(term[order], type=pa.string()),
                _pick(DEVICE_CATEGORIES, sess_device[session[order]]),
            ],
            schema=RAW_SCHEMAS["clickstream"],
        )

    def tables(self) -> dict[str, pa.Table]:
        out = self.customers()
        out["transactions"] = self.transactions()
        out["quiz_responses"] = self.quiz()
        out.update(self.impressions())
        out["clickstream"] = self.clickstream()
        return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


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
    config: GeneratorConfig, chunk_index: int, offers: _OfferArrays, staging: Path
) -> dict[str, int]:
    tables = _Chunk(config, chunk_index, offers).tables()
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
    offer_arrays = _OfferArrays.from_catalogue(offers)
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
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for part in ("raw", "ground_truth", "manifest.json"):
        target = out_dir / part
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        (staging / part).rename(target)
    staging.rmdir()
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
