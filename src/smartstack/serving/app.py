"""Assembles the ranking service from the settings: what ``serving/service.py`` instantiates."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from smartstack.datasets import active, feature_service_name
from smartstack.engagement.quiz import load_quiz
from smartstack.engagement.rules import load_rules
from smartstack.engagement.store import open_store
from smartstack.featurestore import store
from smartstack.featurestore.catalogue import QuizAnswers
from smartstack.featurestore.guarded import GuardedReader
from smartstack.featurestore.online import OnlineFeatureReader
from smartstack.messaging.explainer import Explainer
from smartstack.privacy.audit import AuditLog
from smartstack.privacy.purposes import CONSENT_VIEW, Consent
from smartstack.privacy.suppression import SuppressionList
from smartstack.ranking import smartscore
from smartstack.serving.caps import Caps, FrequencyCaps, LastServed, RedisFrequencyCaps
from smartstack.serving.catalog import FeastCatalogue, UnknownOffers
from smartstack.serving.engagement import EngagementView
from smartstack.serving.experiments import ExperimentsSource, LiveExperiments
from smartstack.serving.forgetting import Forgetting
from smartstack.serving.model import RegistryAlias
from smartstack.serving.overload import LoopLag
from smartstack.serving.ranker import Ranker, Ranking
from smartstack.serving.ranking_cache import RankingCache
from smartstack.serving.reasons import ReasonLabels
from smartstack.serving.schemas import (
    ExplainRequest,
    ExplainResponse,
    RankRequest,
    RankResponse,
)
from smartstack.serving.shadow import ShadowScorer
from smartstack.serving.snapshots import SnapshotWriter
from smartstack.serving.state import Refreshed, ServingStateHolder
from smartstack.settings import OnlineStore, Settings

log = logging.getLogger(__name__)
# Set unless the environment says otherwise (see RankingApp.__init__).
REGISTRY_CLIENT_ENVIRONMENT = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}

# Reads of one customer for /engagement (whether the store knows them, their consent) wait out
# a writer's lock this many times: the service's own event writes (quiz, consent, engagement
# views) hold SQLite's for milliseconds, longer than the feature read's deadline. The endpoint
# runs on a worker thread and is not on the ranking's latency budget.
CUSTOMER_READ_TRIES = 5
CUSTOMER_READ_BACKOFF_S = 0.05


class RankingApp:
    """The ranker and the parts it owns: the serving state and its poller, the feature reader,
    caps, the ranking-log writer and the explainer."""

    def __init__(
        self,
        settings: Settings,
        *,
        log_snapshots: bool = True,
        duties: Sequence[Callable[[], None]] = (),
    ) -> None:
        """``duties`` run on the state poller's beat after its own (the service passes the
        freshness gauges' update, docs/monitoring.md): off the request path, each on its own."""
        config = settings.serving
        # MLflow retries a registry that does not answer 7 times with backoff (about two minutes)
        # before raising; the poller would hold the freshness duties and reloads that long. One
        # retry and a short timeout: the loaded model keeps serving, and the next poll asks again.
        for variable, value in REGISTRY_CLIENT_ENVIRONMENT.items():
            os.environ.setdefault(variable, value)
        self._duties = tuple(duties)
        dataset = active(settings)
        feature_store = store.get_store(settings)
        timeout_s = config.feature_timeout_ms / 1000
        self._reader = OnlineFeatureReader(
            feature_store,
            feature_service_name(settings),
            timeout_s=timeout_s,
            extra_customer_views=(CONSENT_VIEW,),
        )
        if CONSENT_VIEW not in self._reader.extra_views:
            log.warning(
                "the feature registry has no %s view: every customer's consent is the "
                "unrecorded default (%s)",
                CONSENT_VIEW,
                "granted" if settings.privacy.unrecorded_consent else "refused",
            )
        self._unrecorded = settings.privacy.unrecorded_consent
        self.audit = AuditLog.from_settings(settings)
        self._experiments_file = settings.experiments.file
        names = self._reader.names
        self.state = ServingStateHolder(
            RegistryAlias(
                settings.mlflow_tracking_uri, settings.registered_model_name, config.model_alias,
                names,
            ),
            FeastCatalogue(feature_store, dataset),
            config.model_poll_seconds,
            on_catalogue_change=self._reader.refresh,
            experiments=ExperimentsSource(settings.experiments.file),
            on_poll=self._poll_duties,
            on_experiments_change=self._audit_experiments,
        )  # fmt: skip
        self.snapshots = (
            SnapshotWriter(
                settings.ranking_log_dir,
                names,
                config.snapshot_flush_rankings,
                config.snapshot_flush_seconds,
                config.snapshot_buffer_size,
                erased=lambda customers: self.forgetting.erased_now(customers),
            )
            if log_snapshots
            else None
        )
        trial = settings.experiments
        self.shadow = (
            ShadowScorer(
                settings.shadow_log_dir,
                smartscore.smartscore,
                trial.shadow_flush_seconds,
                trial.shadow_buffer_size,
                erased=lambda customers: self.forgetting.erased_now(customers),
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
        self._quiz = (
            QuizAnswers(feature_store, dataset.quiz_view, timeout_s) if dataset.quiz_view else None
        )
        self.explainer = Explainer.from_settings(settings, deadline_s=config.explain_deadline_s)
        last_served = LastServed(config.customers_in_memory)
        self.overload = LoopLag(config.shed_loop_lag_ms / 1000)
        guarded = GuardedReader(
            self._reader.read,
            config.breaker_failures,
            config.breaker_reset_seconds,
            version=self._reader.version,
        )
        self.rankings: RankingCache[Ranking] | None = (
            RankingCache(config.ranking_cache_customers) if config.ranking_cache_customers else None
        )
        # Erased customers leave this worker's memory at the next poll (the suppression list).
        self.forgetting = Forgetting(
            SuppressionList.from_settings(settings),
            [self.caps, last_served, self.explainer.cache]
            + ([self.rankings] if self.rankings is not None else []),
        )
        self.ranker = Ranker(
            read_features=guarded,
            state=self.state,
            rules=smartscore.smartscore,
            rules_version=smartscore.VERSION,
            favourite=self._quiz.favourite if self._quiz else None,
            caps=self.caps,
            last_served=last_served,
            snapshots=self.snapshots,
            reasons_per_offer=config.reasons_per_offer,
            explainer=self.explainer,
            explain_top=config.explain_top,
            reason_labels=ReasonLabels(dataset.vocabulary),
            shadow=self.shadow,
            seed=trial.seed,
            explored_positions=trial.top_k,
            unrecorded_consent=self._unrecorded,
            erased=self.forgetting.erased,
            overloaded=lambda: self.overload.shedding,
            cache=self.rankings,
            read_version=guarded.version,
        )
        self.engagement = EngagementView(
            open_store(settings, load_rules(settings.engagement.rules)),
            load_quiz(settings.engagement.quiz),
            settings.engagement.quiz_interval_days,
            known=self._knows,
            consent=self._consent,
            answered_at=self._quiz.answered_at if self._quiz else lambda _customer: None,
        )
        self.state.start()
        if self.snapshots is not None:
            self.snapshots.start()
        if self.shadow is not None:
            self.shadow.start()

    def _consent(self, customer_id: str) -> tuple[bool | None, Consent]:
        """Whether the store knows the customer, and their consent: one read. A store that
        cannot be read knows nothing (None) and consent is the unrecorded default, as for
        ``/rank``."""
        try:
            known, values = self._customer_values(customer_id)
        except Exception as exc:
            log.warning("consent of %s unreadable, taken as unrecorded: %r", customer_id, exc)
            return None, Consent.of({}, self._unrecorded)
        return known, Consent.of(values, self._unrecorded)

    def _knows(self, customer_id: str) -> bool:
        """Whether the online store knows the customer (raises if it cannot be read now)."""
        return self._customer_values(customer_id)[0]

    def _customer_values(self, customer_id: str) -> tuple[bool, dict[str, object]]:
        """One customer's read, retried while a writer holds the store's lock
        (``CUSTOMER_READ_TRIES``): the last attempt's error is raised."""
        for attempt in range(1, CUSTOMER_READ_TRIES + 1):
            try:
                return self._reader.customer_values(customer_id)
            except TimeoutError:
                if attempt == CUSTOMER_READ_TRIES:
                    raise
                time.sleep(CUSTOMER_READ_BACKOFF_S * attempt)
        raise AssertionError("unreachable")

    @property
    def ready(self) -> bool:
        """Ready to answer: everything is loaded and the background parts are running."""
        return (
            self.state.running
            and (self.snapshots is None or self.snapshots.running)
            and (self.shadow is None or self.shadow.running)
        )

    def rank(self, request: RankRequest) -> RankResponse:
        """Rank, reporting unknown candidates as a validation error on their field (HTTP 400)."""
        try:
            return self.ranker.rank(request)
        except UnknownOffers as exc:
            raise _unknown_offers("RankRequest", "candidate_offer_ids", exc) from None

    def explain(self, request: ExplainRequest) -> ExplainResponse:
        """One offer's explanation, generated now if not cached (LLM within its timeout).

        Raises :class:`~smartstack.serving.ranker.NotExplainable` (HTTP 404) and
        :class:`~smartstack.featurestore.guarded.FeaturesUnavailable` (HTTP 503) for the service.
        """
        at = request.context.timestamp or datetime.now(UTC)
        try:
            ranking, reasons, text = self.ranker.explain_offer(
                request.customer_id, request.offer_id, at
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
            limited_by=list(ranking.limited),
        )

    def reload(self) -> Refreshed:
        """Load the champion and the catalogue as the registries have them now."""
        return self.state.refresh(reload_catalogue=True)

    def _poll_duties(self) -> None:
        """On the state poller's beat: forget erased customers, then the service's duties."""
        self.forgetting.poll()
        for duty in self._duties:
            try:
                duty()
            except Exception:  # one duty's failure stops neither the others nor the poller
                log.exception("poll duty %r failed; trying again next poll", duty)

    def _audit_experiments(self, experiments: LiveExperiments) -> None:
        """A changed experiments file put in force (or refused) by this worker."""
        self.audit.append(
            "experiments_changed",
            f"serving:{os.getpid()}",
            file=str(self._experiments_file),
            version=experiments.plan.version,
            experiments=[e.name for e in experiments.plan.experiments],
            problem=experiments.problem,
        )

    def close(self) -> None:
        self.overload.close()
        self.state.stop()
        self._reader.close()
        if self._quiz is not None:
            self._quiz.close()
        if self.snapshots is not None:
            self.snapshots.close()
        if self.shadow is not None:
            self.shadow.close()
        self.explainer.cache.close()
        self.caps.close()
        self.engagement.close()
        self.forgetting.close()  # last: the log writers ask it until they stop


def _unknown_offers(model: str, field: str, exc: UnknownOffers) -> ValidationError:
    """Unknown offer ids as a validation error on their field, like any other bad input."""
    error = PydanticCustomError("unknown_offer", str(exc))
    return ValidationError.from_exception_data(
        model, [{"type": error, "loc": (field,), "input": exc.offer_ids}]
    )
