"""The fallback chain behind ``POST /rank``: always an answer, and it says where it came from.

1. Features from the online store (with a deadline), eligibility and caps, then the registry's
   champion (tier ``model``) or, without a usable model, the SmartScore rules (``smartscore``).
2. Feature store down or slower than the deadline: the customer's last personal ranking
   (``last_served``), else the most popular offers (``popularity``).
3. Customer unknown to the store: offers in their quiz favourite category first
   (``cold_start_quiz``), else ``popularity``.

Without features the card product is unknown, so the non-personal tiers only show offers open
to every card product; a replayed ranking was already filtered for the customer's product.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pybreaker

from smartstack.featurestore.online import OnlineFeatures
from smartstack.featurestore.rows import ReadTimeout
from smartstack.messaging.explanation import Explanation
from smartstack.messaging.facts import ExplanationFacts, build_facts
from smartstack.serving.caps import Caps, LastServed, ServedRanking
from smartstack.serving.catalog import OfferCatalog
from smartstack.serving.metrics import ERRORS, LATENCY, TIERS
from smartstack.serving.model import LoadedModel, ModelHolder
from smartstack.serving.schemas import (
    ModelInfo,
    OfferExplanation,
    RankedOffer,
    RankRequest,
    RankResponse,
    Reason,
    Tier,
)
from smartstack.serving.snapshots import ServedRecord, SnapshotWriter
from smartstack.serving.treepaths import Leaves

log = logging.getLogger(__name__)

ReadFeatures = Callable[[str, Sequence[str], datetime], OnlineFeatures]
Rules = Callable[[np.ndarray, Sequence[str]], np.ndarray]
# Explanation for one ranked offer: `Explainer.template` on the request path for offers the
# cache missed (never an LLM call), `Explainer.explain` for precompute and `/explain`.
Explain = Callable[[ExplanationFacts], Explanation]
# The cached explanations of (customer, offers, feature version) by offer id:
# `Explainer.cached_many`, one lookup per ranking.
CachedExplanations = Callable[[str, list[str], str], dict[str, Explanation]]


class NotExplainable(ValueError):
    """The customer or offer has nothing to ground an explanation in (HTTP 404)."""


class FeaturesUnavailable(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _LogStateChanges(pybreaker.CircuitBreakerListener):
    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old: pybreaker.CircuitBreakerState | None,
        new: pybreaker.CircuitBreakerState,
    ) -> None:
        log.warning("%s circuit: %s -> %s", cb.name, old.name if old else None, new.name)


class GuardedReader:
    """Online reads behind a circuit breaker: a failed read becomes a fallback tier, not an error.

    The deadline is the store client's own timeout (``OnlineFeatureReader``'s ``timeout_s``:
    SQLite's lock wait, Redis socket timeouts), so the read runs on the caller's thread with no
    hand-off to a pool. After ``breaker_failures`` failed reads in a row the circuit opens
    (pybreaker): reads fail at once, so requests go straight to the fallback tiers instead of
    each waiting out the deadline, until a trial read after ``breaker_reset_s`` succeeds.
    ``breaker_failures=0`` never opens it (batch jobs, where nobody waits on one read).
    """

    def __init__(
        self, read: ReadFeatures, breaker_failures: int = 5, breaker_reset_s: float = 2.0
    ) -> None:
        self._read = read
        self._breaker = (
            pybreaker.CircuitBreaker(
                fail_max=breaker_failures,
                reset_timeout=breaker_reset_s,
                listeners=[_LogStateChanges()],
                name="online-store",
            )
            if breaker_failures
            else None
        )

    def __call__(self, customer_id: str, offer_ids: Sequence[str], at: datetime) -> OnlineFeatures:
        try:
            if self._breaker is None:
                return self._read(customer_id, offer_ids, at)
            return self._breaker.call(self._read, customer_id, offer_ids, at)
        except pybreaker.CircuitBreakerError:
            raise FeaturesUnavailable("feature_store_circuit_open") from None
        except ReadTimeout:
            raise FeaturesUnavailable("feature_store_timeout") from None
        except Exception as exc:
            log.warning("online feature read failed: %r", exc)
            raise FeaturesUnavailable("feature_store_error") from exc


@dataclass(frozen=True)
class _Ranking:
    tier: Tier
    model: ModelInfo
    offer_ids: list[str]  # every eligible offer, best first
    scores: np.ndarray
    features: np.ndarray | None = None  # rows aligned with offer_ids
    scorer: LoadedModel | None = None  # the model that scored them, for reasons
    leaves: Leaves | None = None  # the leaves each offer reached in the scorer's trees
    online: OnlineFeatures | None = None  # the customer's values, for explanations


class Ranker:
    def __init__(
        self,
        read_features: ReadFeatures,
        catalog: OfferCatalog,
        models: ModelHolder,
        rules: Rules,
        rules_version: str,
        quiz_favourites: dict[str, str],
        caps: Caps,
        last_served: LastServed,
        snapshots: SnapshotWriter | None,
        reasons_per_offer: int,
        explain: Explain | None = None,
        explain_top: int = 0,
        cached_explanations: CachedExplanations | None = None,
    ) -> None:
        self._read = read_features
        self._catalog = catalog
        self._models = models
        self._rules = rules
        self._rules_info = ModelInfo(name="smartscore", version=rules_version)
        self._quiz = quiz_favourites
        self._caps = caps
        self._last_served = last_served
        self._snapshots = snapshots
        self._reasons = reasons_per_offer
        self._explain_fn = explain
        self._explain_top = explain_top
        self._cached = cached_explanations

    def rank(
        self, request: RankRequest, *, explain: Explain | None = None, record: bool = True
    ) -> RankResponse:
        """Rank; raises :class:`~smartstack.serving.catalog.UnknownOffers` on bad candidates.

        ``explain`` overrides the service's explanation source (precompute passes the LLM path);
        ``record=False`` ranks without counting it as served (no caps, cache or snapshot).
        """
        started = time.perf_counter()
        at = request.context.timestamp or datetime.now(UTC)
        customer = request.customer_id
        candidates = list(dict.fromkeys(request.candidate_offer_ids or self._catalog.ids))
        self._catalog.check_known(candidates)
        offers = self._catalog.valid_at(candidates, at)
        if record:
            offers = self._caps.allowed(customer, offers)
        try:
            features = self._read(customer, offers, at) if offers else None
        except FeaturesUnavailable as exc:
            ERRORS.labels(kind=exc.kind).inc()
            ranking = self._replay(customer, offers) or self._popular(offers)
        else:
            if features is None:  # nothing valid and under its cap: nothing to read or score
                ranking = self._nothing()
            elif features.customer_found:
                ranking = self._personal(offers, features)
            else:
                ranking = self._cold_start(customer, offers)

        top = ranking.offer_ids[: request.k]
        reasons = self._reason_codes(ranking, len(top))
        # The service's own explanation source may answer from the cache before any facts are
        # built (most rankings' text was precomputed); an override (precompute) always builds.
        cached = self._cached if explain is None else None
        explain = explain or self._explain_fn
        texts = (
            self._explanations(
                customer, ranking, top, reasons, explain, self._explain_top, cached
            )
            if request.explain and explain is not None
            else []
        )
        # Our own values, already of the declared types: constructed without validation.
        response = RankResponse.model_construct(
            request_id=uuid.uuid4().hex,
            customer_id=customer,
            tier=ranking.tier,
            model=ranking.model,
            offers=[
                RankedOffer.model_construct(
                    offer_id=o,
                    rank=i + 1,
                    score=s,
                    reasons=offer_reasons,
                    explanation=texts[i] if i < len(texts) else None,
                )
                for i, (o, s, offer_reasons) in enumerate(
                    zip(top, ranking.scores.tolist(), reasons, strict=False)
                )
            ],
        )
        if record:
            self._remember(request, response, ranking, top, at)
        TIERS.labels(tier=ranking.tier.value).inc()
        LATENCY.labels(tier=ranking.tier.value).observe(time.perf_counter() - started)
        return response

    def explain_offer(
        self, customer: str, offer_id: str, at: datetime, explain: Explain
    ) -> tuple[_Ranking, list[Reason], OfferExplanation]:
        """One offer scored and explained for one customer, as `/rank` would have ranked it.

        Raises :class:`NotExplainable` when the customer has no features or the offer is not
        open to their card, :class:`FeaturesUnavailable` when the store cannot be read.
        """
        self._catalog.check_known([offer_id])
        features = self._read(customer, [offer_id], at)
        if not features.customer_found:
            raise NotExplainable(f"customer {customer} has no features in the online store")
        ranking = self._personal([offer_id], features)
        if not ranking.offer_ids:
            raise NotExplainable(f"offer {offer_id} is not open to this customer's card")
        (reasons,) = self._reason_codes(ranking, 1)
        texts = self._explanations(customer, ranking, [offer_id], [reasons], explain, 1)
        if not texts:
            raise FeaturesUnavailable("explanation_error")
        return ranking, reasons, texts[0]

    def _remember(
        self,
        request: RankRequest,
        response: RankResponse,
        ranking: _Ranking,
        top: list[str],
        at: datetime,
    ) -> None:
        """Count the ranking as served: caps, the last-served cache and the feature snapshot."""
        customer = request.customer_id
        self._caps.record(customer, top)
        if ranking.tier in (Tier.model, Tier.smartscore) and ranking.offer_ids:
            self._last_served.put(
                customer,
                ServedRanking(
                    tuple(ranking.offer_ids),
                    tuple(map(float, ranking.scores)),
                    ranking.model.name,
                    ranking.model.version,
                ),
            )
        if self._snapshots is None:
            return
        self._snapshots.log(
            ServedRecord(
                request_id=response.request_id,
                customer_id=customer,
                served_at=datetime.now(UTC),
                request_time=at,
                channel=str(request.context.channel),
                tier=ranking.tier.value,
                model_name=ranking.model.name,
                model_version=ranking.model.version,
                offer_ids=top,
                scores=[o.score for o in response.offers],
                features=None if ranking.features is None else ranking.features[: len(top)],
            )
        )

    def _nothing(self) -> _Ranking:
        model = self._models.current
        if model is None:
            return _Ranking(Tier.smartscore, self._rules_info, [], np.empty(0))
        return _Ranking(
            Tier.model, ModelInfo(name=model.name, version=model.version), [], np.empty(0)
        )

    def _personal(self, offers: list[str], features: OnlineFeatures) -> _Ranking:
        eligible = set(self._catalog.eligible(offers, features.customer.get("card_product")))
        rows = [i for i, o in enumerate(offers) if o in eligible]
        ids = [offers[i] for i in rows]
        matrix = features.matrix[rows]
        model = self._models.current
        if model is not None:
            try:
                if not ids:
                    return self._nothing()
                scores, leaves = model.score(matrix)
                info = ModelInfo(name=model.name, version=model.version)
                return self._sorted(Tier.model, info, ids, scores, matrix, model, features, leaves)
            except Exception:
                log.exception("model %s v%s failed; using SmartScore", model.name, model.version)
                ERRORS.labels(kind="model_error").inc()
        try:
            scores = self._rules(matrix, features.names) if ids else np.empty(0)
        except Exception:
            log.exception("SmartScore failed; using popularity")
            ERRORS.labels(kind="rules_error").inc()
            return self._popular(ids, any_card=True)
        return self._sorted(Tier.smartscore, self._rules_info, ids, scores, matrix, online=features)

    @staticmethod
    def _sorted(
        tier: Tier,
        info: ModelInfo,
        ids: list[str],
        scores: np.ndarray,
        matrix: np.ndarray | None = None,
        model: LoadedModel | None = None,
        online: OnlineFeatures | None = None,
        leaves: Leaves | None = None,
    ) -> _Ranking:
        order = np.argsort(-scores, kind="stable")
        return _Ranking(
            tier,
            info,
            [ids[i] for i in order],
            scores[order],
            None if matrix is None else matrix[order],
            model,
            None if leaves is None else leaves.take(order),
            online,
        )

    def _replay(self, customer: str, offers: list[str]) -> _Ranking | None:
        served = self._last_served.get(customer)
        if served is None:
            return None
        allowed = set(offers)
        kept = [
            (o, s) for o, s in zip(served.offer_ids, served.scores, strict=True) if o in allowed
        ]
        if not kept:
            return None
        return _Ranking(
            Tier.last_served,
            ModelInfo(name=served.model_name, version=served.model_version),
            [o for o, _ in kept],
            np.array([s for _, s in kept]),
        )

    def _cold_start(self, customer: str, offers: list[str]) -> _Ranking:
        favourite = self._quiz.get(customer)
        if favourite is None:
            return self._popular(offers)
        ids = self._catalog.popular(self._catalog.eligible(offers, None))
        # Score = stated match (1/0) + popularity (a rate below 1): monotone in the order.
        scores = np.array(
            [
                (self._catalog[o].merchant_category == favourite) + self._catalog[o].popularity
                for o in ids
            ],
            dtype=float,
        )
        return self._sorted(Tier.cold_start_quiz, ModelInfo(name="quiz", version=None), ids, scores)

    def _popular(self, offers: list[str], any_card: bool = False) -> _Ranking:
        """Most redeemed first; ``any_card`` when ``offers`` were already filtered for the card."""
        ids = self._catalog.popular(offers if any_card else self._catalog.eligible(offers, None))
        scores = np.array([self._catalog[o].popularity for o in ids])
        return _Ranking(Tier.popularity, ModelInfo(name="popularity", version=None), ids, scores)

    def _explanations(
        self,
        customer: str,
        ranking: _Ranking,
        top: list[str],
        reasons: list[list[Reason]],
        explain: Explain,
        limit: int,
        cached: CachedExplanations | None = None,
    ) -> list[OfferExplanation]:
        """Text for the first ``limit`` offers, from the customer's own feature values.

        Only personal tiers have those values; the other tiers' offers carry no explanation.
        ``cached`` answers first when given: a hit needs no facts.
        """
        online = ranking.online
        if online is None:
            return []
        row = {**online.customer, "customer_id": customer}
        shown = top[:limit]
        texts = []
        try:
            hits = cached(customer, shown, online.version) if cached else {}
            for offer_id, offer_reasons in zip(shown, reasons, strict=False):
                hit = hits.get(offer_id)
                if hit is None:
                    facts = build_facts(
                        row,
                        self._catalog[offer_id].terms,
                        [(r.feature, r.contribution) for r in offer_reasons],
                        online.version,
                    )
                    hit = explain(facts)
                texts.append(_public(hit))
        except Exception:  # an explanation must never cost the ranking
            log.exception("explanations failed for %s", customer)
            ERRORS.labels(kind="explanation_error").inc()
        return texts

    def _reason_codes(self, ranking: _Ranking, n: int) -> list[list[Reason]]:
        """The features that raised each of the top ``n`` scores most (model tier only)."""
        model, matrix, leaves = ranking.scorer, ranking.features, ranking.leaves
        if model is None or matrix is None or leaves is None or n == 0 or self._reasons == 0:
            return [[] for _ in range(n)]
        contributions = model.contributions(leaves.take(slice(0, n)))[:, :-1]  # last: bias
        strongest = np.argsort(-contributions, axis=1)[:, : self._reasons]
        # Gathered as arrays and converted once: per-element NumPy scalars cost more than the rest.
        shares = np.take_along_axis(contributions, strongest, axis=1).tolist()
        values = np.take_along_axis(matrix[:n], model.columns[strongest], axis=1)
        seen = np.where(np.isnan(values), None, values).tolist()
        names = model.feature_names
        # Built without validation: every field comes from the model's own arrays and names.
        return [
            [
                Reason.model_construct(feature=names[j], contribution=c, value=v)
                for j, c, v in zip(best, row_shares, row_values, strict=True)
            ]
            for best, row_shares, row_values in zip(
                strongest.tolist(), shares, seen, strict=True
            )
        ]


def _public(explanation: Explanation) -> OfferExplanation:
    return OfferExplanation(
        text=explanation.text,
        source=explanation.source.value,
        template_id=explanation.template_id,
        model=explanation.model,
        feature_version=explanation.feature_version,
        fallback_reason=explanation.fallback_reason.value if explanation.fallback_reason else None,
    )
