"""The fallback chain behind ``POST /rank``: always an answer, and it says where it came from.

1. Features from the online store (with a deadline), eligibility and caps, then the registry's
   champion (tier ``model``) or, without a usable model, the SmartScore rules (``smartscore``).
2. Feature store down or slower than the deadline: the customer's last personal ranking
   (``last_served``), else the most popular offers (``popularity``).
3. Customer unknown to the store: offers in their quiz favourite category first
   (``cold_start_quiz``), else ``popularity``.

Without features the card product is unknown, so the non-personal tiers only show offers open
to every card product; a replayed ranking was already filtered for the customer's product.
Each request reads the serving state (model and catalogue) once, so a reload never mixes two of
them within one ranking.

Personal rankings follow the experiments file (:mod:`smartstack.serving.experiments`): the
customer's arm picks the ranker (or two, interleaved), the served order may be sampled from the
scores (exploration, with the probability of what was shown logged), and a share of rankings is
scored again by a shadow ranker off the request path.

Consent by purpose (:mod:`smartstack.privacy.purposes`) is read with the features, in the same
round trip, so a change is honoured by the next request. Without ``personalization``: the
popularity tier (the offers everyone gets: no features, quiz answers or card product used), no
reasons or explanations, no last-served entry (an existing one is dropped), and the ranking-log
row carries no features. Without ``llm_messaging``: template text only, nothing sent to the
LLM. Without ``analytics``: no ranking-log row and no shadow scoring. When the store cannot be
read, consent is unknown and counts as the ``privacy.unrecorded_consent`` setting. The
response's ``limited_by`` names each purpose whose refusal changed it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

from smartstack.experiments.config import SMARTSCORE
from smartstack.experiments.exploration import PlackettLuce, greedy
from smartstack.experiments.interleaving import team_draft
from smartstack.featurestore.guarded import FeaturesUnavailable, ReadFeatures
from smartstack.featurestore.online import OnlineFeatures
from smartstack.messaging.explainer import Explainer, OfferToExplain
from smartstack.messaging.explanation import Explanation
from smartstack.privacy.purposes import CONSENT_COLUMNS, Consent, Purpose
from smartstack.serving.caps import Caps, LastServed, ServedRanking
from smartstack.serving.catalog import OfferCatalog
from smartstack.serving.experiments import FALLBACKS, Route
from smartstack.serving.metrics import CONSENT_LIMITED, ERRORS, LATENCY, TIERS
from smartstack.serving.model import LoadedModel
from smartstack.serving.ranking_cache import CachedRanking, Memo, RankingCache
from smartstack.serving.reasons import ReasonLabels, reason_codes
from smartstack.serving.schemas import (
    ModelInfo,
    OfferExplanation,
    RankedOffer,
    RankRequest,
    RankResponse,
    Reason,
    Tier,
)
from smartstack.serving.shadow import ShadowJob, ShadowScorer
from smartstack.serving.snapshots import ServedRecord, SnapshotWriter
from smartstack.serving.state import ServingState, ServingStateHolder
from smartstack.serving.treepaths import Leaves

log = logging.getLogger(__name__)

Rules = Callable[[np.ndarray, Sequence[str]], np.ndarray]
# A customer's rows' version in the online store (GuardedReader.version)
ReadVersion = Callable[[str], Hashable]

# A customer's stated favourite category, for customers the online store does not know.
Favourite = Callable[[str], str | None]


class NotExplainable(ValueError):
    """The customer or offer has nothing to ground an explanation in (HTTP 404)."""


@dataclass(frozen=True)
class Ranking:
    """One ranking before it becomes a response: every eligible offer, best first."""

    tier: Tier
    model: ModelInfo
    offer_ids: list[str]
    scores: np.ndarray
    features: np.ndarray | None = None  # rows aligned with offer_ids
    scorer: LoadedModel | None = None  # the model that scored them, for reasons
    leaves: Leaves | None = None  # the leaves each offer reached in the scorer's trees
    online: OnlineFeatures | None = None  # the customer's values, for explanations
    route: Route | None = None  # the experiment arm of a personal ranking
    # Of the shown offers (the first k): the probability that each is at its position, and
    # of the whole shown list, under the policy that chose them (1 when sorted by score).
    propensities: np.ndarray | None = None
    list_propensity: float | None = None
    teams: tuple[str, ...] | None = None  # interleaving: the arm whose pick each offer is
    consent: Consent | None = None  # as read with the features (None: not read)
    limited: tuple[Purpose, ...] = ()  # purposes whose refusal changed this ranking
    # What was derived from a cached ranking's features (reason codes, template texts), kept
    # with it in the ranking cache; None for a ranking computed afresh
    memo: Memo | None = None

    def take(self, order: np.ndarray) -> Ranking:
        """The same ranking in another order (``order`` indexes the current one)."""
        return replace(
            self,
            offer_ids=[self.offer_ids[i] for i in order],
            scores=self.scores[order],
            features=None if self.features is None else self.features[order],
            leaves=None if self.leaves is None else self.leaves.take(order),
        )

    def reasons(self, n: int, per_offer: int, label: ReasonLabels) -> list[list[Reason]]:
        """Reason codes of the first ``n`` offers (a model tier's only); a cached ranking's
        once per shown list (the same offers' rows, scored by the same model)."""
        if self.scorer is None or self.features is None or self.leaves is None:
            return [[] for _ in range(n)]
        if self.memo is None:
            return reason_codes(self.scorer, self.features, self.leaves, n, per_offer, label)
        key = ("reasons", self.model.version, tuple(self.offer_ids[:n]), per_offer)
        found = self.memo.get(key)
        if found is None:
            found = reason_codes(self.scorer, self.features, self.leaves, n, per_offer, label)
            self.memo[key] = found
        return found


class Ranker:
    def __init__(
        self,
        read_features: ReadFeatures,
        state: ServingStateHolder,
        rules: Rules,
        rules_version: str,
        favourite: Favourite | None,
        caps: Caps,
        last_served: LastServed,
        snapshots: SnapshotWriter | None,
        reasons_per_offer: int,
        explainer: Explainer | None = None,
        explain_top: int = 0,
        reason_labels: ReasonLabels | None = None,
        shadow: ShadowScorer | None = None,
        seed: int | None = None,
        explored_positions: int = 3,
        unrecorded_consent: bool = True,
        erased: Callable[[str], bool] = lambda _customer: False,
        overloaded: Callable[[], bool] = lambda: False,
        cache: RankingCache[Ranking] | None = None,
        read_version: ReadVersion | None = None,
    ) -> None:
        """``cache`` keeps each customer's personal ranking while ``read_version`` (their
        rows' version, behind the same breaker as ``read_features``) and the rest of what it
        was computed from stay the same (:mod:`smartstack.serving.ranking_cache`)."""
        if cache is not None and read_version is None:
            raise ValueError("a ranking cache needs the customer rows' version read")
        self._read = read_features
        self._cache = cache
        self._read_version = read_version
        # The worker is behind (smartstack.serving.overload): rank without reading or scoring.
        self._overloaded = overloaded
        # What a purpose with no recorded answer counts as (and every purpose when the
        # store could not be read).
        self._unrecorded = unrecorded_consent
        # An erased customer is answered, but nothing about the request is kept.
        self._erased = erased
        self._state = state
        self._rules = rules
        self._rules_info = ModelInfo(name="smartscore", version=rules_version)
        self._favourite = favourite
        self._caps = caps
        self._last_served = last_served
        self._snapshots = snapshots
        self._reasons = reasons_per_offer
        self._explainer = explainer
        self._explain_top = explain_top
        self._labels = reason_labels or ReasonLabels()
        self._shadow = shadow
        self._explored_positions = explored_positions
        # Exploration, interleaving and the shadow share draw from one generator per request
        # thread, each seeded from ``seed`` (None: the OS's entropy).
        self._seeds = np.random.SeedSequence(seed)
        self._seeds_lock = threading.Lock()
        self._local = threading.local()

    @property
    def _rng(self) -> np.random.Generator:
        rng = getattr(self._local, "rng", None)
        if rng is None:
            with self._seeds_lock:
                (seed,) = self._seeds.spawn(1)
            rng = self._local.rng = np.random.default_rng(seed)
        return rng

    def rank(
        self, request: RankRequest, *, live_explanations: bool = False, record: bool = True
    ) -> RankResponse:
        """Rank; raises :class:`~smartstack.serving.catalog.UnknownOffers` on bad candidates.

        ``live_explanations`` builds every explanation now, with the LLM where configured (the
        precompute job); otherwise cached text or the template. ``record=False`` ranks without
        counting it as served (no caps, last-served cache or ranking log), as for an erased
        customer.
        """
        started = time.perf_counter()
        state = self._state.current
        at = request.context.timestamp or datetime.now(UTC)
        customer = request.customer_id
        record = record and not self._erased(customer)
        catalog = state.catalog
        candidates = list(dict.fromkeys(request.candidate_offer_ids or catalog.ids))
        catalog.check_known(candidates)
        offers = catalog.valid_at(candidates, at)
        if record:
            offers = self._caps.allowed(customer, offers)
        ranking = self._chain(state, customer, offers, at, request.k)
        consent = ranking.consent or Consent.of({}, self._unrecorded)
        limited = set(ranking.limited)
        top = ranking.offer_ids[: request.k]
        reasons = ranking.reasons(len(top), self._reasons, self._labels)
        texts = (
            self._explanations(
                customer,
                catalog,
                ranking,
                top,
                reasons,
                live_explanations,
                allow_llm=consent.llm_messaging,
            )
            if request.explain
            else []
        )
        if texts and self._llm_limited(consent):
            limited.add(Purpose.llm_messaging)
        withheld = record and self._snapshots is not None and not consent.analytics
        if withheld:
            limited.add(Purpose.analytics)
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
                    offer=catalog.cards[o],
                    reasons=offer_reasons,
                    explanation=texts[i] if i < len(texts) else None,
                )
                for i, (o, s, offer_reasons) in enumerate(
                    zip(top, ranking.scores.tolist(), reasons, strict=False)
                )
            ],
            limited_by=_counted(limited),
        )
        if record:
            self._remember(state, request, response, ranking, top, at, started, consent)
        TIERS.labels(tier=ranking.tier.value).inc()
        LATENCY.labels(tier=ranking.tier.value).observe(time.perf_counter() - started)
        return response

    def _chain(
        self, state: ServingState, customer: str, offers: list[str], at: datetime, k: int
    ) -> Ranking:
        if not offers:  # nothing valid and under its cap: nothing to read or score
            return self._nothing(state)
        if self._overloaded():
            return self._unread(state, customer, offers, "overload")
        try:
            features, kept = self._features(state, customer, offers, at)
        except FeaturesUnavailable as exc:
            return self._unread(state, customer, offers, exc.kind)
        consent = Consent.of(features.customer, self._unrecorded)
        if not consent.personalization:
            return replace(self._impersonal(state, customer, offers, features), consent=consent)
        ranking = self._read_chain(state, customer, offers, at, k, features, kept)
        return replace(ranking, consent=consent)

    def _features(
        self, state: ServingState, customer: str, offers: list[str], at: datetime
    ) -> tuple[OnlineFeatures, CachedRanking[Ranking] | None]:
        """The customer's features, and the cache entry their rankings are kept in: the kept
        one when the customer's rows, the offers, the state and the hour are those it was
        computed from, else a new one with the features read now. The version is read first,
        so a write between the two reads leaves an entry that the next request misses."""
        if self._cache is None or self._read_version is None:
            return self._read(customer, offers, at), None
        version = self._read_version(customer)
        ranked = tuple(offers)
        kept = self._cache.get(customer, state, version, at, ranked)
        if kept is not None:
            return kept.features, kept
        features = self._read(customer, offers, at)
        return features, self._cache.put(customer, state, version, at, ranked, features)

    def _unread(self, state: ServingState, customer: str, offers: list[str], why: str) -> Ranking:
        """A ranking without the customer's features (``why``: the store's failure, or the
        worker shedding load): their last served ranking, else the popular offers."""
        ERRORS.labels(kind=why).inc()
        if self._unrecorded:
            return self._replay(customer, offers) or _popular(state.catalog, offers)
        # Consent unknown and unrecorded consent counts as refused: nothing personal.
        limited = (Purpose.personalization,) if self._last_served.get(customer) else ()
        return replace(_popular(state.catalog, offers), limited=limited)

    def _read_chain(
        self,
        state: ServingState,
        customer: str,
        offers: list[str],
        at: datetime,
        k: int,
        features: OnlineFeatures,
        kept: CachedRanking[Ranking] | None,
    ) -> Ranking:
        if features.customer_found:
            route = state.experiments.route(customer, at, self._state.champion_alias)
            return self._personal(state, offers, features, route, k, kept)
        return self._cold_start(state.catalog, customer, offers)

    def explain_offer(
        self, customer: str, offer_id: str, at: datetime
    ) -> tuple[Ranking, list[Reason], OfferExplanation]:
        """One offer scored and explained now (the LLM where configured and consented to), as
        `/rank` would have ranked it; the ranking's ``limited`` says what consent changed.

        Raises :class:`NotExplainable` when the customer has no features, has not consented to
        personalization or the offer is not open to their card, :class:`FeaturesUnavailable`
        when the store cannot be read.
        """
        state = self._state.current
        state.catalog.check_known([offer_id])
        features = self._read(customer, [offer_id], at)
        consent = Consent.of(features.customer, self._unrecorded)
        if not consent.personalization:
            if features.customer_found:
                CONSENT_LIMITED.labels(purpose=Purpose.personalization.value).inc()
            raise NotExplainable(
                f"customer {customer} has not consented to personalization: no personal explanation"
            )
        if not features.customer_found:
            raise NotExplainable(f"customer {customer} has no features in the online store")
        ranking = self._personal(state, [offer_id], features, Route(self._state.champion_alias), 1)
        if not ranking.offer_ids:
            raise NotExplainable(f"offer {offer_id} is not open to this customer's card")
        (reasons,) = ranking.reasons(1, self._reasons, self._labels)
        texts = self._explanations(
            customer,
            state.catalog,
            ranking,
            [offer_id],
            [reasons],
            True,
            allow_llm=consent.llm_messaging,
        )
        if not texts:
            raise FeaturesUnavailable("explanation_error")
        limited = {Purpose.llm_messaging} if self._llm_limited(consent) else set()
        limits = tuple(_counted(limited))
        return replace(ranking, consent=consent, limited=limits), reasons, texts[0]

    def _llm_limited(self, consent: Consent) -> bool:
        """Whether refused LLM consent changes explanations: only with an LLM configured."""
        return (
            not consent.llm_messaging
            and self._explainer is not None
            and self._explainer.llm is not None
        )

    def _impersonal(
        self, state: ServingState, customer: str, offers: list[str], features: OnlineFeatures
    ) -> Ranking:
        """No consent to personalization: the offers everyone gets, most popular first, and
        the customer's last personal ranking forgotten. Limited by it when the store holds
        something of theirs a personal tier would have ranked by (features, a quiz answer)."""
        self._last_served.drop(customer)
        consent_columns = set(CONSENT_COLUMNS.values())
        known = features.customer_found or any(
            value is not None
            for name, value in features.customer.items()
            if name not in consent_columns
        )
        ranking = _popular(state.catalog, offers)
        return replace(ranking, limited=(Purpose.personalization,) if known else ())

    def _explanations(
        self,
        customer: str,
        catalog: OfferCatalog,
        ranking: Ranking,
        top: list[str],
        reasons: list[list[Reason]],
        live: bool,
        *,
        allow_llm: bool = True,
    ) -> list[OfferExplanation]:
        """Text for the first ``explain_top`` offers (all given ones when ``live``), from the
        customer's own feature values: only personal tiers have them, the others get none.
        ``allow_llm=False``: templates only, nothing sent to the LLM or read from its cache."""
        online = ranking.online
        if online is None or self._explainer is None:
            return []
        shown = top if live else top[: self._explain_top]
        offers = [
            OfferToExplain(catalog[o].terms, [(r.feature, r.contribution) for r in why])
            for o, why in zip(shown, reasons, strict=False)
        ]
        try:
            texts = self._explainer.for_offers(
                customer,
                online.customer,
                online.version,
                offers,
                live=live,
                allow_llm=allow_llm,
                templates=None if live else ranking.memo,
            )
        except Exception:  # an explanation must never cost the ranking
            log.exception("explanations failed for %s", customer)
            ERRORS.labels(kind="explanation_error").inc()
            return []
        return [_public(text) for text in texts]

    def _remember(
        self,
        state: ServingState,
        request: RankRequest,
        response: RankResponse,
        ranking: Ranking,
        top: list[str],
        at: datetime,
        started: float,
        consent: Consent,
    ) -> None:
        """Count the ranking as served: caps, the last-served cache, the feature snapshot, and
        the shadow ranker's turn (``started``: when the request began, for its latency), as far
        as the customer's consent allows."""
        customer = request.customer_id
        served_at = datetime.now(UTC)
        self._caps.record(customer, top)
        personal = ranking.tier in (Tier.model, Tier.smartscore)
        if personal and ranking.offer_ids and consent.personalization:
            self._last_served.put(
                customer,
                ServedRanking(
                    tuple(ranking.offer_ids),
                    tuple(map(float, ranking.scores)),
                    ranking.model.name,
                    ranking.model.version,
                ),
            )
        if not consent.analytics:  # no log row, no shadow comparison
            return
        self._shadow_turn(state, response, ranking, len(top), served_at, started)
        if self._snapshots is None:
            return
        route = ranking.route
        self._snapshots.log(
            ServedRecord(
                request_id=response.request_id,
                customer_id=customer,
                served_at=served_at,
                request_time=at,
                channel=str(request.context.channel),
                tier=ranking.tier.value,
                model_name=ranking.model.name,
                model_version=ranking.model.version,
                offer_ids=top,
                scores=[o.score for o in response.offers],
                features=None
                if ranking.features is None or not consent.personalization
                else ranking.features[: len(top)],
                experiment=route.experiment if route else None,
                arm=route.arm if route else None,
                ranker=route.ranker if route else None,
                propensities=None
                if ranking.propensities is None
                else [
                    None if np.isnan(p) else p for p in ranking.propensities[: len(top)].tolist()
                ],
                list_propensity=ranking.list_propensity,
                teams=None if ranking.teams is None else list(ranking.teams[: len(top)]),
            )
        )

    def _shadow_turn(
        self,
        state: ServingState,
        response: RankResponse,
        ranking: Ranking,
        k: int,
        served_at: datetime,
        started: float,
    ) -> None:
        """Hand a share of the personal rankings to the shadow ranker (never waited for)."""
        shadow = state.experiments.plan.shadow
        if (
            self._shadow is None
            or shadow is None
            or ranking.features is None
            or ranking.online is None
            or self._rng.random() >= shadow.share
        ):
            return
        model = None
        if shadow.ranker != SMARTSCORE:
            model = state.ranker(shadow.ranker, self._state.champion_alias)
            if model is None:  # not loaded (yet): nothing to compare
                return
        self._shadow.submit(
            ShadowJob(
                request_id=response.request_id,
                customer_id=response.customer_id,
                served_at=served_at,
                tier=ranking.tier.value,
                model_name=ranking.model.name,
                model_version=ranking.model.version,
                offer_ids=ranking.offer_ids,
                scores=ranking.scores.tolist(),
                served_ms=(time.perf_counter() - started) * 1000,
                matrix=ranking.features,
                feature_names=ranking.online.names,
                k=k,
                ranker=shadow.ranker,
                model=model,
            )
        )

    def _nothing(self, state: ServingState) -> Ranking:
        model = state.model
        if model is None:
            return Ranking(Tier.smartscore, self._rules_info, [], np.empty(0))
        return Ranking(
            Tier.model, ModelInfo(name=model.name, version=model.version), [], np.empty(0)
        )

    def _personal(
        self,
        state: ServingState,
        offers: list[str],
        features: OnlineFeatures,
        route: Route,
        k: int,
        kept: CachedRanking[Ranking] | None = None,
    ) -> Ranking:
        eligible = set(state.catalog.eligible(offers, features.customer.get("card_product")))
        rows = [i for i, o in enumerate(offers) if o in eligible]
        ids = [offers[i] for i in rows]
        if not ids:
            return self._nothing(state)
        matrix = features.matrix[rows]
        first = self._scored_kept(kept, state, route.ranker, ids, matrix, features)
        if route.rival is not None:
            second = self._scored_kept(kept, state, route.rival, ids, matrix, features)
            drafted = _interleaved(first, second, k, self._rng)
            arms = dict(zip("ab", route.teams or ("a", "b"), strict=True))
            teams = tuple(arms[team] for team in drafted.teams or ())
            return replace(drafted, route=route, teams=teams)
        return replace(self._explored(state, first, k), route=route)

    def _scored_kept(
        self,
        kept: CachedRanking[Ranking] | None,
        state: ServingState,
        ranker: str,
        ids: list[str],
        matrix: np.ndarray,
        features: OnlineFeatures,
    ) -> Ranking:
        """:meth:`_scored`, from the cache entry when it holds this ranker's scores; scored
        now and kept in it otherwise, unless a failure made a fallback tier answer."""
        if kept is None:
            return self._scored(state, self._model_of(state, ranker), ids, matrix, features)
        ranking = kept.scored.get(ranker)
        if ranking is None:
            model = self._model_of(state, ranker)
            ranking = self._scored(state, model, ids, matrix, features)
            if ranking.tier is (Tier.smartscore if model is None else Tier.model):
                ranking = replace(ranking, memo=kept.memo)
                kept.scored[ranker] = ranking
        return ranking

    def _scored(
        self,
        state: ServingState,
        model: LoadedModel | None,
        ids: list[str],
        matrix: np.ndarray,
        features: OnlineFeatures,
    ) -> Ranking:
        """The offers sorted by one ranker's ``model`` (:meth:`_model_of`), else (None, or
        the model failing) SmartScore, else popularity."""
        if model is not None:
            try:
                scores, leaves = model.score(matrix)
                info = ModelInfo(name=model.name, version=model.version)
                return _sorted(Tier.model, info, ids, scores, matrix, model, features, leaves)
            except Exception:
                log.exception("model %s v%s failed; using SmartScore", model.name, model.version)
                ERRORS.labels(kind="model_error").inc()
        try:
            scores = self._rules(matrix, features.names)
        except Exception:
            log.exception("SmartScore failed; using popularity")
            ERRORS.labels(kind="rules_error").inc()
            return _popular(state.catalog, ids, any_card=True)
        return _sorted(Tier.smartscore, self._rules_info, ids, scores, matrix, online=features)

    def _model_of(self, state: ServingState, ranker: str) -> LoadedModel | None:
        """The model of a ranker; the champion's when its alias is not loaded (counted); None
        for SmartScore, or without a champion."""
        if ranker == SMARTSCORE:
            return None
        champion = self._state.champion_alias
        model = state.ranker(ranker, champion)
        if model is None and ranker != champion:
            FALLBACKS.labels(reason="ranker").inc()
            return state.model
        return model

    def _explored(self, state: ServingState, ranking: Ranking, k: int) -> Ranking:
        """The ranking as served: sorted, or, when the experiments file asks for exploration,
        its first slots (up to ``explored_positions``, those off-policy evaluation reads)
        sampled from the best-scored offers' scores and the rest in score order; with the
        probability of each shown offer at its slot (NaN past the sampled slots)."""
        exploration = state.experiments.plan.exploration
        if exploration is None or ranking.tier not in (Tier.model, Tier.smartscore):
            return _shown_sorted(ranking, k)
        sampled = min(k, self._explored_positions)
        # The ranking is sorted: its first `candidates` offers are the best scored.
        pool = ranking.scores[: exploration.candidates]
        try:
            shown = PlackettLuce(exploration.temperature).sample(pool, sampled, self._rng)
        except ValueError:  # scores the softmax cannot take (overflow): serve them sorted
            log.exception("exploration failed; serving the sorted order")
            ERRORS.labels(kind="exploration_error").inc()
            return _shown_sorted(ranking, k)
        rest = np.setdiff1d(np.arange(len(ranking.offer_ids)), shown.order, assume_unique=True)
        order = np.concatenate([shown.order, rest])  # the rest stay sorted by score
        unsampled = np.full(max(0, min(k, order.size) - shown.order.size), np.nan)
        return replace(
            ranking.take(order),
            propensities=np.concatenate([shown.position_propensities, unsampled]),
            list_propensity=shown.list_propensity,
        )

    def _replay(self, customer: str, offers: list[str]) -> Ranking | None:
        served = self._last_served.get(customer)
        if served is None:
            return None
        allowed = set(offers)
        kept = [
            (o, s) for o, s in zip(served.offer_ids, served.scores, strict=True) if o in allowed
        ]
        if not kept:
            return None
        return Ranking(
            Tier.last_served,
            ModelInfo(name=served.model_name, version=served.model_version),
            [o for o, _ in kept],
            np.array([s for _, s in kept]),
        )

    def _cold_start(self, catalog: OfferCatalog, customer: str, offers: list[str]) -> Ranking:
        favourite = self._stated_favourite(customer)
        if favourite is None:
            return _popular(catalog, offers)
        ids = catalog.popular(catalog.eligible(offers, None))
        # Score = stated match (1/0) + popularity (a rate below 1): monotone in the order.
        scores = np.array(
            [(catalog[o].merchant_category == favourite) + catalog[o].popularity for o in ids],
            dtype=float,
        )
        return _sorted(Tier.cold_start_quiz, ModelInfo(name="quiz", version=None), ids, scores)

    def _stated_favourite(self, customer: str) -> str | None:
        if self._favourite is None:
            return None
        try:
            return self._favourite(customer)
        except Exception as exc:  # the quiz is a nicety: popularity answers without it
            log.warning("quiz answers unavailable: %r", exc)
            ERRORS.labels(kind="quiz_error").inc()
            return None


def _sorted(
    tier: Tier,
    info: ModelInfo,
    ids: list[str],
    scores: np.ndarray,
    matrix: np.ndarray | None = None,
    model: LoadedModel | None = None,
    online: OnlineFeatures | None = None,
    leaves: Leaves | None = None,
) -> Ranking:
    order = np.argsort(-scores, kind="stable")
    return Ranking(
        tier,
        info,
        [ids[i] for i in order],
        scores[order],
        None if matrix is None else matrix[order],
        model,
        None if leaves is None else leaves.take(order),
        online,
    )


def _shown_sorted(ranking: Ranking, k: int) -> Ranking:
    """The ranking in score order, its first ``k`` shown with certainty."""
    shown = greedy(ranking.scores, k)
    return replace(
        ranking, propensities=shown.position_propensities, list_propensity=shown.list_propensity
    )


def _interleaved(first: Ranking, second: Ranking, k: int, rng: np.random.Generator) -> Ranking:
    """The team-draft interleaving of two rankings of the same offers: the shown ``k`` drafted
    from both, the rest in the first's order. Scores, features and reasons are the first's."""
    drafted = team_draft(first.offer_ids, second.offer_ids, k, rng)
    position = {o: i for i, o in enumerate(first.offer_ids)}
    shown = [position[o] for o in drafted.offer_ids]
    taken = set(shown)
    rest = [i for i in range(len(first.offer_ids)) if i not in taken]
    return replace(first.take(np.array(shown + rest, dtype=int)), teams=drafted.teams)


def _popular(catalog: OfferCatalog, offers: list[str], any_card: bool = False) -> Ranking:
    """Most redeemed first; ``any_card`` when ``offers`` were already filtered for the card."""
    ids = catalog.popular(offers if any_card else catalog.eligible(offers, None))
    scores = np.array([catalog[o].popularity for o in ids])
    return Ranking(Tier.popularity, ModelInfo(name="popularity", version=None), ids, scores)


def _counted(limited: set[Purpose] | tuple[Purpose, ...]) -> list[Purpose]:
    """The limiting purposes in :class:`Purpose` order, each counted once in the metric."""
    ordered = [p for p in Purpose if p in limited]
    for purpose in ordered:
        CONSENT_LIMITED.labels(purpose=purpose.value).inc()
    return ordered


def _public(explanation: Explanation) -> OfferExplanation:
    return OfferExplanation(
        text=explanation.text,
        source=explanation.source.value,
        template_id=explanation.template_id,
        model=explanation.model,
        feature_version=explanation.feature_version,
        fallback_reason=explanation.fallback_reason.value if explanation.fallback_reason else None,
    )
