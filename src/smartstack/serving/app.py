"""Assembles the ranking service from the settings: what ``serving/service.py`` instantiates."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from smartstack.datasets import feature_service_name
from smartstack.featurestore import store
from smartstack.featurestore.online import OnlineFeatureReader
from smartstack.messaging.explainer import Explainer
from smartstack.ranking import smartscore
from smartstack.serving.caps import Caps, FrequencyCaps, LastServed, RedisFrequencyCaps
from smartstack.serving.catalog import OfferCatalog, UnknownOffers
from smartstack.serving.config import ServingConfig
from smartstack.serving.model import ModelHolder
from smartstack.serving.quiz import load_favourites
from smartstack.serving.ranker import GuardedReader, Ranker
from smartstack.serving.schemas import (
    ExplainRequest,
    ExplainResponse,
    RankRequest,
    RankResponse,
)
from smartstack.serving.snapshots import SnapshotWriter
from smartstack.settings import OnlineStore, Settings

log = logging.getLogger(__name__)


class RankingApp:
    """The ranker and the background parts it owns (model poller, snapshot writer, read pool)."""

    def __init__(
        self, settings: Settings, config: ServingConfig, *, log_snapshots: bool = True
    ) -> None:
        self._reader = OnlineFeatureReader(
            store.get_store(settings),
            feature_service_name(settings),
            timeout_s=config.feature_timeout_ms / 1000,
        )
        names = self._reader.names
        assert settings.mlflow_tracking_uri is not None
        self.models = ModelHolder(
            settings.mlflow_tracking_uri,
            settings.registered_model_name,
            config.model_alias,
            names,
            config.model_poll_seconds,
        )
        self.snapshots = (
            SnapshotWriter(
                config.snapshot_dir or settings.home / "serving" / "snapshots",
                names,
                config.snapshot_flush_rankings,
                config.snapshot_flush_seconds,
                config.snapshot_buffer_size,
            )
            if log_snapshots
            else None
        )
        # Next to a Redis online store the caps are shared by every worker and replica.
        self.caps: Caps = (
            RedisFrequencyCaps(
                settings.redis_url, config.frequency_cap, config.frequency_window_seconds
            )
            if settings.online_store == OnlineStore.redis
            else FrequencyCaps(
                config.frequency_cap, config.frequency_window_seconds, config.customers_in_memory
            )
        )
        self.explainer = Explainer.from_settings(settings, deadline_s=config.explain_deadline_s)
        self.ranker = Ranker(
            read_features=GuardedReader(
                self._reader.read, config.breaker_failures, config.breaker_reset_seconds
            ),
            catalog=OfferCatalog.load(settings),
            models=self.models,
            rules=smartscore.smartscore,
            rules_version=smartscore.VERSION,
            quiz_favourites=load_favourites(settings),
            caps=self.caps,
            last_served=LastServed(config.customers_in_memory),
            snapshots=self.snapshots,
            reasons_per_offer=config.reasons_per_offer,
            explain=self.explainer.template,
            explain_top=config.explain_top,
            cached_explanations=self.explainer.cached_many,
        )
        self.models.start()
        if self.snapshots is not None:
            self.snapshots.start()
        current = self.models.current
        log.info("ranking service ready; model: %s", current.version if current else "none")

    @property
    def ready(self) -> bool:
        """Ready to answer: everything is loaded and the background parts are running."""
        return self.models.running and (self.snapshots is None or self.snapshots.running)

    def rank(self, request: RankRequest) -> RankResponse:
        """Rank, reporting unknown candidates as a validation error on their field (HTTP 400)."""
        try:
            return self.ranker.rank(request)
        except UnknownOffers as exc:
            raise _unknown_offers("RankRequest", "candidate_offer_ids", exc) from None

    def explain(self, request: ExplainRequest) -> ExplainResponse:
        """One offer's explanation, generated now if not cached (LLM within its timeout).

        Raises :class:`~smartstack.serving.ranker.NotExplainable` (HTTP 404) and
        :class:`~smartstack.serving.ranker.FeaturesUnavailable` (HTTP 503) for the service.
        """
        at = request.context.timestamp or datetime.now(UTC)
        try:
            ranking, reasons, text = self.ranker.explain_offer(
                request.customer_id, request.offer_id, at, self.explainer.explain
            )
        except UnknownOffers as exc:
            raise _unknown_offers("ExplainRequest", "offer_id", exc) from None
        return ExplainResponse(
            customer_id=request.customer_id,
            offer_id=request.offer_id,
            tier=ranking.tier,
            model=ranking.model,
            reasons=reasons,
            explanation=text,
        )

    def close(self) -> None:
        self.models.stop()
        self._reader.close()
        if self.snapshots is not None:
            self.snapshots.close()
        self.explainer.cache.close()
        self.caps.close()


def _unknown_offers(model: str, field: str, exc: UnknownOffers) -> ValidationError:
    """Unknown offer ids as a validation error on their field, like any other bad input."""
    error = PydanticCustomError("unknown_offer", str(exc))
    return ValidationError.from_exception_data(
        model, [{"type": error, "loc": (field,), "input": exc.offer_ids}]
    )
