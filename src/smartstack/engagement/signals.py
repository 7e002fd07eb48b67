"""What engagement reads from the feature store: the guardrail's spend and offer categories.

- :class:`SpendGuard` reads the two spend features the rules name (30-day spend and 90-day
  spend by default) from the online store, for the customers of a batch who did a spending
  action, and says which of them the guardrail holds back. The values are the batch features
  as of the last materialization (daily), so a customer's status cannot flip within a day's
  replay of their events.
- :class:`OfferCategories` maps an offer id to its merchant category (the explorer badge
  counts categories) from the catalogue view, reloaded when an unknown offer shows up.
- :class:`ProfilingConsent` says which customers of a batch refuse personalization, from the
  consent view of the online store: their activity is not profiled (no streak, no badges).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from feast import FeatureStore
from feast.errors import FeatureViewNotFoundException

from smartstack.datasets.adapter import DatasetAdapter
from smartstack.engagement.rules import Guardrail
from smartstack.featurestore.catalogue import catalogue_frame
from smartstack.featurestore.rows import EntityRows, ViewRead, entity_rows
from smartstack.privacy.purposes import CONSENT_COLUMNS, CONSENT_VIEW, Consent, Purpose

log = logging.getLogger(__name__)


class SpendGuard:
    """Which customers the guardrail holds back, from their spend in the online store."""

    def __init__(
        self, store: FeatureStore, guardrail: Guardrail | None, timeout_s: float = 5.0
    ) -> None:
        self.guardrail = guardrail
        self._rows: EntityRows | None = None
        if guardrail is None:
            return
        (recent_view, self._recent), (baseline_view, self._baseline) = (
            ref.split(":") for ref in (guardrail.recent_spend, guardrail.baseline_spend)
        )
        reads: dict[str, list[str]] = {}
        for view, feature in ((recent_view, self._recent), (baseline_view, self._baseline)):
            reads.setdefault(view, []).append(feature)
        try:
            found = {name: store.get_feature_view(name) for name in reads}
        except FeatureViewNotFoundException as error:
            # A data set without these features (Starbucks has no 90-day spend): nothing to
            # compare, so nobody is held back; said once, loudly.
            log.warning("guardrail %s is off: %s", guardrail.id, error)
            return
        views = [
            ViewRead(view, view.entity_columns[0].name, reads[name], False)
            for name, view in found.items()
        ]
        self._rows = entity_rows(store.config, views, timeout_s)

    @property
    def active(self) -> bool:
        return self._rows is not None

    def rising(self, customers: Iterable[str]) -> set[str]:
        """The customers among ``customers`` whose recent spend is rising sharply."""
        ids = sorted(set(customers))
        if self._rows is None or self.guardrail is None or not ids:
            return set()
        rows = self._rows.read(ids)
        return {
            customer
            for customer, (values, _) in zip(ids, rows, strict=True)
            if self.guardrail.rising(values.get(self._recent), values.get(self._baseline))
        }

    def close(self) -> None:
        if self._rows is not None:
            self._rows.close()


class ProfilingConsent:
    """Which customers refuse personalization, as the online store has it now (a consent
    change is written there within seconds of its event)."""

    def __init__(self, store: FeatureStore, unrecorded: bool, timeout_s: float = 5.0) -> None:
        self._unrecorded = unrecorded
        self._column = CONSENT_COLUMNS[Purpose.personalization]
        self._rows: EntityRows | None = None
        try:
            view = store.get_feature_view(CONSENT_VIEW)
        except FeatureViewNotFoundException:
            log.warning("no %s view: every customer counts as %s", CONSENT_VIEW, unrecorded)
            return
        read = ViewRead(view, view.entity_columns[0].name, [self._column], True)
        self._rows = entity_rows(store.config, [read], timeout_s)

    def refused(self, customers: Iterable[str]) -> set[str]:
        ids = sorted(set(customers))
        if not ids:
            return set()
        if self._rows is None:
            return set() if self._unrecorded else set(ids)
        rows = self._rows.read(ids)
        return {
            customer
            for customer, (values, _) in zip(ids, rows, strict=True)
            if not Consent.of(values, self._unrecorded).personalization
        }

    def close(self) -> None:
        if self._rows is not None:
            self._rows.close()


class OfferCategories:
    """Offer id → merchant category, from the data set's catalogue view."""

    def __init__(
        self, store: FeatureStore, dataset: DatasetAdapter, reload_after_s: float = 60.0
    ) -> None:
        self._store = store
        self._dataset = dataset
        self._reload_after = reload_after_s
        self._loaded_at = float("-inf")
        self._categories: dict[str, str] = {}

    def _load(self) -> None:
        frame = catalogue_frame(self._store, self._dataset)
        self._categories = dict(zip(frame["offer_id"], frame["merchant_category"], strict=True))
        self._loaded_at = time.monotonic()

    def category(self, offer_id: str) -> str | None:
        """The offer's category; None for an offer the catalogue does not list (yet)."""
        if offer_id not in self._categories and (
            time.monotonic() - self._loaded_at > self._reload_after
        ):
            self._load()
        return self._categories.get(offer_id)
