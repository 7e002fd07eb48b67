"""Assembles the ranking service from the settings: what ``serving/service.py`` instantiates."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from smartstack.featurestore import store
from smartstack.featurestore.online import OnlineFeatureReader
from smartstack.ranking import smartscore
from smartstack.serving.caps import FrequencyCaps, LastServed
from smartstack.serving.catalog import OfferCatalog, UnknownOffers
from smartstack.serving.config import ServingConfig
from smartstack.serving.model import ModelHolder
from smartstack.serving.quiz import load_favourites
from smartstack.serving.ranker import DeadlineReader, Ranker
from smartstack.serving.schemas import RankRequest, RankResponse
from smartstack.serving.snapshots import SnapshotWriter
from smartstack.settings import Settings

log = logging.getLogger(__name__)


class RankingApp:
    """The ranker and the background parts it owns (model poller, snapshot writer, read pool)."""

    def __init__(self, settings: Settings, config: ServingConfig) -> None:
        reader = OnlineFeatureReader(store.get_store(settings))
        names = reader.names
        assert settings.mlflow_tracking_uri is not None
        self.models = ModelHolder(
            settings.mlflow_tracking_uri,
            settings.registered_model_name,
            config.model_alias,
            names,
            config.model_poll_seconds,
        )
        self.snapshots = SnapshotWriter(
            config.snapshot_dir or settings.home / "serving" / "snapshots",
            names,
            config.snapshot_flush_rows,
            config.snapshot_flush_seconds,
            config.snapshot_queue_size,
        )
        self._read = DeadlineReader(reader.read, config.feature_timeout_ms, config.read_threads)
        self.ranker = Ranker(
            read_features=self._read,
            catalog=OfferCatalog.load(settings),
            models=self.models,
            rules=smartscore.smartscore,
            rules_version=smartscore.VERSION,
            quiz_favourites=load_favourites(settings),
            caps=FrequencyCaps(
                config.frequency_cap, config.frequency_window_seconds, config.customers_in_memory
            ),
            last_served=LastServed(config.customers_in_memory),
            snapshots=self.snapshots,
            reasons_per_offer=config.reasons_per_offer,
        )
        self.models.start()
        self.snapshots.start()
        current = self.models.current
        log.info("ranking service ready; model: %s", current.version if current else "none")

    @property
    def ready(self) -> bool:
        """Ready to answer: everything is loaded and the background parts are running."""
        return self.models.running and self.snapshots.running

    def rank(self, request: RankRequest) -> RankResponse:
        """Rank, reporting unknown candidates as a validation error on their field (HTTP 400)."""
        try:
            return self.ranker.rank(request)
        except UnknownOffers as exc:
            error = PydanticCustomError("unknown_offer", str(exc))
            raise ValidationError.from_exception_data(
                "RankRequest",
                [{"type": error, "loc": ("candidate_offer_ids",), "input": exc.offer_ids}],
            ) from None

    def close(self) -> None:
        self.models.stop()
        self._read.close()
        self.snapshots.close()
