"""The serving read path: one customer and N candidate offers, in the feature service's order.

``FeatureStore.get_online_features`` is general: it re-resolves the feature service, repeats the
customer's key once per candidate offer, converts every value through several layers and builds
a response protobuf, which costs ~20 ms for 30 offers and 160 features. Ranking needs one thing:
a matrix of the service's features for N offers of one customer. This reader resolves the
service once, reads all of the customer's views in one round trip from Feast's online store
(SQLite or Redis, :mod:`smartstack.featurestore.rows`), keeps offer rows between requests, runs
the service's on-demand transformation on the joined columns, and returns the matrix. Names,
views and the transformation all come from the registry, so training and serving cannot drift
apart.

Views outside the service that the request still needs (the customer's consent by purpose) are
read in the same round trip when the registry has them: their values are in
``OnlineFeatures.customer``, never in the matrix, and do not make a customer known.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from feast import FeatureStore, FeatureView

from smartstack.featurestore.config import FEATURE_SERVICE
from smartstack.featurestore.rows import ViewRead, entity_rows

CUSTOMER_KEY = "customer_id"
OFFER_KEY = "offer_id"
REQUEST_TIME = "request_timestamp"


@dataclass(frozen=True)
class OnlineFeatures:
    """Feature values for one ranking request."""

    names: list[str]  # the model's columns, in the feature service's order
    matrix: np.ndarray  # one row per offer, NaN where a value is missing
    customer: dict[str, Any]  # every customer-level value read (for reasons and explanations)
    offers: list[dict[str, Any]]  # every offer-level value read, per offer
    customer_found: bool  # False when no view of the service has a row of the customer
    customer_as_of: datetime | None = None  # newest batch (not pushed) customer row read
    feature_service: str = FEATURE_SERVICE  # the service these values were read for

    @property
    def version(self) -> str:
        """Which materialized snapshot of the customer these values are: keys cached text.

        Views fed by a push source (recent spend, quiz answers) are left out: they change at any
        moment, and explanations cite only batch features, so their text stays valid until the
        next materialization.
        """
        stamp = self.customer_as_of.strftime("%Y%m%dT%H%M%S") if self.customer_as_of else "none"
        return f"{self.feature_service}@{stamp}"


def _floats(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


class _TransformInputs(Mapping[str, list[Any]]):
    """The on-demand transformation's column lists, built only for the names it reads.

    Feast hands a transformation every column of its source views (~200 here); it reads about
    sixty. A customer value becomes the same value once per offer, an offer value the offers'
    column, the request time its own column.
    """

    def __init__(
        self, customer: dict[str, Any], offers: list[dict[str, Any]], request_time: datetime
    ) -> None:
        self._customer = customer
        self._offers = offers
        self._time = request_time
        self._names = [*customer, *(offers[0] if offers else ()), REQUEST_TIME]

    def __getitem__(self, name: str) -> list[Any]:
        n = len(self._offers)
        if name == REQUEST_TIME:
            return [self._time] * n
        if name in self._customer:
            return [self._customer[name]] * n
        if self._offers and name in self._offers[0]:
            return [o[name] for o in self._offers]
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class OnlineFeatureReader:
    """Warm reads of the ranking feature service for one customer × N offers.

    Offer features change only when a batch materialization runs, so offer rows are kept for
    ``offer_ttl_seconds`` (and dropped by :meth:`refresh`); customer rows are read every time,
    because streaming updates land in them within seconds. ``timeout_s`` bounds each read in
    the store's client (the serving deadline).
    """

    def __init__(
        self,
        store: FeatureStore,
        service_name: str = FEATURE_SERVICE,
        offer_ttl_seconds: float = 60.0,
        timeout_s: float = 1.0,
        extra_customer_views: Sequence[str] = (),
    ) -> None:
        """``extra_customer_views``: customer-keyed views read with the service's customer
        views although the service does not include them (``customer_consent``); a name the
        registry does not have is skipped, so a store without that view reads as before. Which
        ones were found is ``self.extra_views``."""
        self._offer_ttl = offer_ttl_seconds
        self.service_name = service_name
        service = store.get_feature_service(service_name)
        batch = {v.name: v for v in store.list_all_feature_views()}
        on_demand = {v.name: v for v in store.list_on_demand_feature_views()}
        self.names: list[str] = []
        self._transforms: list[Callable[[Mapping[str, list[Any]]], dict[str, Any]]] = []
        needed: dict[str, FeatureView] = {}
        for projection in service.feature_view_projections:
            self.names += [f.name for f in projection.features]
            if projection.name in on_demand:
                odfv = on_demand[projection.name]
                self._transforms.append(odfv.feature_transformation.udf)
                for source in odfv.source_feature_view_projections.values():
                    needed.setdefault(source.name, batch[source.name])
            else:
                needed.setdefault(projection.name, batch[projection.name])
        self.extra_views: list[str] = [
            name
            for name in dict.fromkeys(extra_customer_views)
            if name in batch
            and name not in needed
            and batch[name].entity_columns
            and batch[name].entity_columns[0].name == CUSTOMER_KEY
        ]
        for name in self.extra_views:
            needed[name] = batch[name]
        views = [
            ViewRead(
                v,
                v.entity_columns[0].name,
                [f.name for f in v.features],
                v.stream_source is not None,
            )
            for v in needed.values()
        ]
        customer_views = [v for v in views if v.join_key == CUSTOMER_KEY]
        offer_views = [v for v in views if v.join_key == OFFER_KEY]
        self._customers = entity_rows(store.config, customer_views, timeout_s)
        self._offer_store = entity_rows(store.config, offer_views, timeout_s)
        extra = set(self.extra_views)
        # What makes a customer known (`knows`): a value of a view the ranking reads.
        self._own_customer_cols = [
            n for v in customer_views if v.view.name not in extra for n in v.features
        ]
        customer_names = set(self._own_customer_cols)
        offer_names = {n for v in offer_views for n in v.features}
        self._customer_cols = [n for n in self.names if n in customer_names]
        self._customer_idx = [self.names.index(n) for n in self._customer_cols]
        self._offer_cols = [n for n in self.names if n in offer_names]
        self._offer_idx = [self.names.index(n) for n in self._offer_cols]
        self._derived_cols = [
            (i, n) for i, n in enumerate(self.names) if n not in customer_names | offer_names
        ]
        # offer id -> (read at, every value read, the service's offer columns as floats)
        self._offers: dict[str, tuple[float, dict[str, Any], np.ndarray]] = {}

    def refresh(self) -> None:
        """Forget cached offer rows (call after a materialization)."""
        self._offers.clear()

    def close(self) -> None:
        self._customers.close()
        self._offer_store.close()

    def _offer_rows(
        self, offer_ids: Sequence[str]
    ) -> list[tuple[float, dict[str, Any], np.ndarray]]:
        now = time.monotonic()
        missing = [
            o
            for o in dict.fromkeys(offer_ids)
            if o not in self._offers or now - self._offers[o][0] > self._offer_ttl
        ]
        if missing:
            for offer_id, (row, _) in zip(missing, self._offer_store.read(missing), strict=True):
                self._offers[offer_id] = (now, row, _floats([row[n] for n in self._offer_cols]))
        return [self._offers[o] for o in offer_ids]

    def version(self, customer_id: str) -> Hashable:
        """Changes whenever the customer's rows may have (:meth:`EntityRows.version`): one
        small read, where :meth:`read` fetches and decodes every value."""
        return self._customers.version(customer_id)

    def knows(self, customer_id: str) -> bool:
        """Whether the online store has any feature of the customer (the extra views aside)."""
        return self.customer_values(customer_id)[0]

    def customer_values(self, customer_id: str) -> tuple[bool, dict[str, Any]]:
        """Whether the store knows the customer (as :meth:`knows`), and every customer value
        read, the extra views' included: one round trip."""
        ((customer, _),) = self._customers.read([customer_id])
        known = any(customer[c] is not None for c in self._own_customer_cols)
        return known, customer

    def read(
        self, customer_id: str, offer_ids: Sequence[str], request_time: datetime
    ) -> OnlineFeatures:
        ((customer, as_of),) = self._customers.read([customer_id])
        # Known means a value of the service's own views: a quiz answer alone (an on-demand
        # input) leaves the customer to cold start, which ranks by that answer.
        customer_found = any(customer[c] is not None for c in self._customer_cols)
        cached = self._offer_rows(offer_ids)
        offers = [row for _, row, _ in cached]
        n = len(offer_ids)
        matrix = np.empty((n, len(self.names)))
        matrix[:, self._customer_idx] = _floats([customer[c] for c in self._customer_cols])
        if n:
            matrix[:, self._offer_idx] = np.stack([vector for _, _, vector in cached])
        if self._derived_cols:
            inputs = _TransformInputs(customer, offers, request_time)
            derived: dict[str, Any] = {}
            for transform in self._transforms:
                derived.update(transform(inputs))
            for i, name in self._derived_cols:
                matrix[:, i] = [np.nan if v is None else v for v in derived[name]]
        return OnlineFeatures(
            self.names, matrix, customer, offers, customer_found, as_of, self.service_name
        )
