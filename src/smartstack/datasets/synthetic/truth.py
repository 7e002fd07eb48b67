"""The true click and redemption chances of any ranking on generated data: for evaluation only.

An off-policy estimate of a ranking policy, made from the uniform logger's impressions, is worth
trusting only once it has been compared with the policy's true value, and on generated data
that value is known: :class:`HiddenUtility` evaluates the generator's own formulas
(:mod:`.utility`) for any customer, offer, time, channel and slot. Serving never imports this
module, and nothing it returns may become a feature: it reads ``ground_truth/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from smartstack.data.schema import CARD_PRODUCTS, IMPRESSION_CHANNELS, MERCHANT_CATEGORIES
from smartstack.datasets.synthetic import world as catalog
from smartstack.datasets.synthetic.utility import (
    Funnel,
    OfferArrays,
    Population,
    funnel,
    impression_utility,
)

_NEVER = np.iinfo(np.int64).max  # drift time of customers who do not drift
Times = np.ndarray | pd.Series | pd.DatetimeIndex | Sequence[pd.Timestamp]


class HiddenUtility:
    """The generator's hidden utility and funnel chances, by customer and offer id and time.

    History counts as in the generator: purchases and quiz answers strictly before ``at``, the
    taste after a customer's drift from its instant on. Any time can be asked about; past the
    snapshot there is no later history, so recency only grows.
    """

    def __init__(
        self,
        customer_ids: pd.Index,
        cards: np.ndarray,
        offers: OfferArrays,
        population: Population,
    ) -> None:
        self._customers = customer_ids
        self._cards = cards  # index into CARD_PRODUCTS, by customer
        self._offer_index = pd.Index(offers.ids)
        self._offers = offers
        self._population = population

    @classmethod
    def from_data(cls, data_dir: Path) -> HiddenUtility:
        """Read a generated data set (``raw/`` and ``ground_truth/`` under ``data_dir``).

        For evaluation only: it reads the hidden truth, which serving never imports and no
        model may see. A FileNotFoundError says the data set has no ground truth (it was not
        generated).
        """
        raw, hidden = Path(data_dir) / "raw", Path(data_dir) / "ground_truth"
        customers = pq.read_table(raw / "customers", columns=["customer_id", "card_product"])
        ids = customers["customer_id"].combine_chunks()
        prefs = [f"pref_{c}" for c in MERCHANT_CATEGORIES]
        afters = [f"pref_after_drift_{c}" for c in MERCHANT_CATEGORIES]
        truth = pq.read_table(
            hidden / "customer_truth",
            columns=["customer_id", "reward_affinity", "spend_mult", "drift_at", *prefs, *afters],
        )
        truth = truth.take(_positions(truth["customer_id"].combine_chunks(), ids))
        purchases = pq.read_table(
            raw / "transactions", columns=["customer_id", "event_timestamp", "merchant_category"]
        )
        answers = pq.read_table(
            raw / "quiz_responses", columns=["customer_id", "answered_at", "favourite_category"]
        )
        population = Population.create(
            pref=_matrix(truth, prefs),
            pref_after=_matrix(truth, afters),
            drift_us=truth["drift_at"].cast(pa.int64()).fill_null(_NEVER).to_numpy(),
            reward_affinity=truth["reward_affinity"].to_numpy(),
            spend_mult=truth["spend_mult"].to_numpy(),
            purchases=(
                _positions(ids, purchases["customer_id"]),
                _micros(purchases["event_timestamp"]),
                _positions(pa.array(MERCHANT_CATEGORIES), purchases["merchant_category"]),
            ),
            answers=(
                _positions(ids, answers["customer_id"]),
                _micros(answers["answered_at"]),
                _positions(pa.array(MERCHANT_CATEGORIES), answers["favourite_category"]),
            ),
        )
        offers = [_offer(row) for row in pq.read_table(raw / "offers").to_pylist()]
        return cls(
            customer_ids=pd.Index(ids.to_pylist()),
            cards=_positions(pa.array(CARD_PRODUCTS), customers["card_product"]),
            offers=OfferArrays.from_catalogue(offers),
            population=population,
        )

    def customer_ids(self) -> np.ndarray:
        """Every customer id, in the data set's order: whom a simulation can draw from."""
        return self._customers.to_numpy()

    def utility(self, customer_ids: np.ndarray, offer_ids: np.ndarray, at: Times) -> np.ndarray:
        """The hidden utility of showing each offer to each customer at each time."""
        cust, offer, t = self._rows(customer_ids, offer_ids, at)
        return impression_utility(self._population, self._offers, cust, offer, t)

    def p_click(
        self,
        customer_ids: np.ndarray,
        offer_ids: np.ndarray,
        at: Times,
        channels: np.ndarray,
        positions: np.ndarray,
    ) -> np.ndarray:
        """The chance of a view and then a click (``channels`` as in the impressions table,
        ``positions`` 1-based)."""
        return self._funnel(customer_ids, offer_ids, at, channels, positions).p_click

    def p_redeem(
        self,
        customer_ids: np.ndarray,
        offer_ids: np.ndarray,
        at: Times,
        channels: np.ndarray,
        positions: np.ndarray,
    ) -> np.ndarray:
        """The chance of a view, a click and a redemption, as :meth:`p_click` takes them.

        Like ``impression_truth.p_redeem``, this is the chance before the snapshot or the
        offer's expiry cut a late redemption off the observed outcomes.
        """
        return self._funnel(customer_ids, offer_ids, at, channels, positions).p_redeem

    def eligible_offers(self, customer_id: str, at: pd.Timestamp | np.datetime64) -> list[str]:
        """The offers valid at ``at`` for the customer's card: what the uniform logger drew
        its slate from, in catalogue order."""
        cust = self._lookup(self._customers, np.array([customer_id]), "customer")[0]
        t = _query_micros([at])[0]
        off = self._offers
        valid = (off.valid_from <= t) & (t < off.valid_to) & off.eligible[self._cards[cust]]
        return [off.ids[i] for i in np.flatnonzero(valid)]

    def _funnel(
        self,
        customer_ids: np.ndarray,
        offer_ids: np.ndarray,
        at: Times,
        channels: np.ndarray,
        positions: np.ndarray,
    ) -> Funnel:
        cust, offer, t = self._rows(customer_ids, offer_ids, at)
        channel = self._lookup(pd.Index(IMPRESSION_CHANNELS), np.asarray(channels), "channel")
        position = np.asarray(positions, dtype=np.int64)
        if channel.size != cust.size or position.size != cust.size:
            raise ValueError("channels and positions need one entry per customer id")
        if (position < 1).any():
            raise ValueError("positions are 1-based")
        return funnel(self._population, self._offers, cust, offer, t, channel, position)

    def _rows(
        self, customer_ids: np.ndarray, offer_ids: np.ndarray, at: Times
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cust = self._lookup(self._customers, np.asarray(customer_ids), "customer")
        offer = self._lookup(self._offer_index, np.asarray(offer_ids), "offer")
        t = _query_micros(at)
        if not cust.size == offer.size == t.size:
            raise ValueError("customer ids, offer ids and times need equal lengths")
        return cust, offer, t

    @staticmethod
    def _lookup(index: pd.Index, values: np.ndarray, kind: str) -> np.ndarray:
        """Positions of ``values`` in ``index``; a KeyError naming those it does not hold."""
        found = index.get_indexer(values)
        if (found < 0).any():
            unknown = sorted(set(values[found < 0].tolist()))
            shown = ", ".join(map(str, unknown[:10])) + (" ..." if len(unknown) > 10 else "")
            raise KeyError(f"{len(unknown)} unknown {kind} id(s): {shown}")
        return found


def _positions(values: pa.Array, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The position in ``values`` of each entry of ``column`` (all of which it holds)."""
    found = pc.index_in(column, value_set=values)
    if found.null_count:
        raise ValueError(f"{found.null_count} value(s) of the data set are not in {values[:3]}…")
    return found.to_numpy().astype(np.int64)


def _micros(column: pa.ChunkedArray) -> np.ndarray:
    return column.cast(pa.int64()).to_numpy()


def _query_micros(at: Times) -> np.ndarray:
    """``at`` as microseconds since the epoch; times without a zone are taken as UTC."""
    return pd.DatetimeIndex(pd.to_datetime(at, utc=True)).as_unit("us").asi8


def _matrix(table: pa.Table, columns: list[str]) -> np.ndarray:
    return np.column_stack([table[c].to_numpy() for c in columns])


def _offer(row: dict) -> catalog.Offer:
    """A catalogue offer back from its row, so that its value score is the generator's own."""
    return catalog.Offer(
        offer_id=row["offer_id"],
        headline=row["headline"],
        merchant_category=row["merchant_category"],
        offer_type=row["offer_type"],
        value=row["value"],
        min_spend=row["min_spend"],
        valid_from=row["valid_from"],
        valid_to=row["valid_to"],
        eligible_card_products=tuple(row["eligible_card_products"].split(",")),
    )
