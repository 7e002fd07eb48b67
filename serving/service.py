"""BentoML service: ``POST /rank``, ``/explain``, ``/feedback``, ``/quiz``, ``/consent`` and
``/engagement``, plus BentoML's ``/livez``, ``/readyz``, ``/metrics`` and OpenAPI docs, and the
customer's web app under ``/app/`` (with its local sign-in under ``/auth/``).

Every endpoint about a customer needs ``Authorization: Bearer``: the customer's own token (a
token for another customer gets 403) or the service token of server-to-server callers.

Request bodies are JSON of at most ``serving.max_body_bytes`` (415 or 413 before anything
parses them), and ``/docs.json`` publishes the OpenAPI document as the service answers, error
bodies included: :mod:`smartstack.serving.contract`; tests/serving/test_fuzz.py fuzzes it.

Glue only; the ranking logic is :mod:`smartstack.serving`. Run from the repository root:

    bentoml serve serving.service:RankingService --port 3000
"""

from __future__ import annotations

import gc
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import bentoml
from starlette.responses import JSONResponse

from smartstack.erasure.erase import (
    AlreadyErased,
    ErasureInterrupted,
    UnknownCustomer,
    erase_customer,
    request_erasure,
)
from smartstack.events.contracts import ConsentEvent, FeedbackEvent, QuizAnswerEvent
from smartstack.events.interactions import Interactions
from smartstack.events.producers import (
    OUTBOX,
    BufferedEventSink,
    CustomerEvent,
    EventReceipt,
    PublishFailed,
    event_sink,
)
from smartstack.featurestore import store
from smartstack.featurestore.guarded import FeaturesUnavailable
from smartstack.monitoring.freshness import FreshnessWatch
from smartstack.serving.admin import (
    ADMIN_PREFIX,
    ERASE_ROUTE,
    RELOAD_ROUTE,
    AdminGate,
    EraseRequest,
    EraseResponse,
    ReloadResponse,
    authorize,
    reload_response,
)
from smartstack.serving.app import RankingApp
from smartstack.serving.auth import TokenVerifier
from smartstack.serving.contract import ERROR, PublishedDocument, RequestBodies, published_document
from smartstack.serving.engagement import EngagementRequest, EngagementResponse
from smartstack.serving.engagement import UnknownCustomer as NoEngagement
from smartstack.serving.gate import PersonalRoutes
from smartstack.serving.metrics import OUTBOX_EVENTS
from smartstack.serving.ranker import NotExplainable
from smartstack.serving.schemas import (
    ExplainRequest,
    ExplainResponse,
    RankRequest,
    RankResponse,
    RequestContext,
)
from smartstack.serving.web import APP_PATH, AUTH_PATH, published_paths, sign_in_app, web_app
from smartstack.settings import get_settings

logger = logging.getLogger(__name__)

# Built before the service: a configuration without a way to verify tokens stops it here,
# before it serves anyone. One verifier (one key cache) for the gate and the local sign-in.
VERIFIER = TokenVerifier(get_settings().auth)


@bentoml.asgi_app(web_app(get_settings()), path=APP_PATH)
@bentoml.asgi_app(sign_in_app(get_settings(), VERIFIER), path=AUTH_PATH)
@bentoml.service(
    name="offer_ranker",
    workers=1,
    threads=8,
    traffic={"timeout": 5},
    # One log line per request costs more than the ranking's own bookkeeping; the Prometheus
    # metrics count requests, tiers and latency instead.
    logging={"access": {"enabled": False}},
    endpoints={"livez": "/livez", "readyz": "/readyz"},
)
class RankingService:
    def __init__(self) -> None:
        self.settings = get_settings()
        # The freshness and outbox gauges are set on the state poller's beat (docs/monitoring.md).
        self.event_sink = event_sink(
            self.settings,
            lambda: Interactions.from_settings(self.settings, store.get_store(self.settings)),
        )
        duties = [FreshnessWatch(self.settings, store.get_store(self.settings))]
        if isinstance(self.event_sink, BufferedEventSink):
            outbox = self.event_sink.outbox
            duties.append(lambda: OUTBOX_EVENTS.set(len(outbox)))
        self.app = RankingApp(self.settings, duties=duties)
        # A store outage answers 503: try again once the store's circuit has had its trial read.
        self.retry_after = max(1, math.ceil(self.settings.serving.breaker_reset_seconds))
        # Erasures run one at a time, off the request threads (they rewrite files for seconds).
        self._erasures = ThreadPoolExecutor(max_workers=1, thread_name_prefix="erasure")
        # Everything imported and loaded so far (BentoML, MLflow, Feast, pandas: about 470,000
        # objects) lives as long as the process. Frozen, the cyclic GC stops scanning it: one
        # full collection over it takes about 240 ms here, a stall every request then waits out.
        gc.collect()
        gc.freeze()

    @bentoml.api(route="/rank", input_spec=RankRequest)
    async def rank(
        self,
        customer_id: str,
        context: RequestContext,
        candidate_offer_ids: list[str] | None = None,
        k: int = 10,
        explain: bool = True,
    ) -> RankResponse:
        """Rank offers for one customer, with reason codes and the fallback tier that answered.

        Runs on the event loop, not the thread pool: a ranking takes about a millisecond of CPU
        and never waits long (the feature read's deadline is the store client's timeout, the
        caps' too), so a hand-off to a thread would cost more than it frees, and threads
        contending for the GIL are what made the tail slow under load.
        A worker whose loop runs behind sheds: it answers from the last served ranking or
        popularity (the tier says which) until it catches up (``serving.shed_loop_lag_ms``).
        """
        self.app.overload.watch()
        return self.app.rank(
            RankRequest.model_construct(
                customer_id=customer_id,
                context=context,
                candidate_offer_ids=candidate_offer_ids,
                k=k,
                explain=explain,
            )
        )

    @bentoml.api(route="/explain", input_spec=ExplainRequest)
    def explain(self, customer_id: str, offer_id: str, context: RequestContext) -> ExplainResponse:
        """Explain one offer for one customer now: the LLM if configured (within its timeout),
        checked against the customer's features, else the template. 404 if the customer has no
        features or the offer is not open to their card; 503 if the feature store is down."""
        request = ExplainRequest.model_construct(
            customer_id=customer_id, offer_id=offer_id, context=context
        )
        try:
            return self.app.explain(request)
        except NotExplainable as exc:
            return _refused(404, str(exc))
        except FeaturesUnavailable as exc:
            return _refused(
                503, f"cannot explain now ({exc.kind}); retry later", retry_after=self.retry_after
            )

    @bentoml.api(route="/feedback")
    def feedback(self, event: FeedbackEvent, /, ctx: bentoml.Context) -> EventReceipt:
        """Record what a customer did with an offer, or their 1–5 rating of its explanation.
        Answers once the event is durable: 200 once the broker has it, 202 if it is kept in the
        service's outbox until the broker is back; 503 with the reason if it could not be kept
        (nothing is stored: retry with the same event_id, duplicates are dropped by id)."""
        return self._store(event, ctx)

    @bentoml.api(route="/quiz")
    def quiz(self, answer: QuizAnswerEvent, /, ctx: bentoml.Context) -> EventReceipt:
        """Record a customer's answers to the monthly quiz (the questions come with
        `/engagement` when the quiz is due). The next ranking uses them within seconds; like
        feedback, durable when answered, 503 to retry with the same event_id."""
        return self._store(answer, ctx)

    @bentoml.api(route="/consent")
    def consent(self, event: ConsentEvent, /, ctx: bentoml.Context) -> EventReceipt:
        """Record a customer's consent, purpose by purpose (every purpose stated: the newest
        event is the whole answer). Within seconds the online consent view holds it and the
        audit log records it; like `/feedback`, a 503 means retry with the same `event_id`."""
        return self._store(event, ctx)

    @bentoml.api(route="/engagement", input_spec=EngagementRequest)
    def engagement(self, customer_id: str, timestamp: datetime | None = None) -> EngagementResponse:
        """A customer's weekly streak, badges earned, the next badges with progress, and
        whether the monthly quiz is due (with its questions). 404 for an unknown customer; 503 if
        the online store cannot be read now."""
        request = EngagementRequest.model_construct(customer_id=customer_id, timestamp=timestamp)
        try:
            return self.app.engagement.read(request)
        except NoEngagement as exc:
            return _refused(404, str(exc))
        except (FeaturesUnavailable, TimeoutError, ConnectionError) as exc:
            # Whether the customer is known is the online store's to say, and it cannot now.
            logger.warning("engagement of a customer unreadable now: %r", exc)
            return _refused(
                503, "cannot read the customer's profile now; retry later",
                retry_after=self.retry_after,
            )  # fmt: skip

    def _store(self, event: CustomerEvent, ctx: bentoml.Context) -> EventReceipt:
        try:
            stored = self.event_sink.send(event)
        except PublishFailed as exc:
            ctx.response.status_code = 503
            ctx.response.headers["Retry-After"] = "1"
            return EventReceipt(
                event_id=event.event_id,
                error=f"not stored: {exc}; retry with the same event_id",
            )
        if stored == OUTBOX:  # durable, on its way to the broker: accepted, not yet delivered
            ctx.response.status_code = 202
        return EventReceipt(event_id=event.event_id, stored=stored)

    @bentoml.api(route=RELOAD_ROUTE)
    def reload(self, ctx: bentoml.Context) -> ReloadResponse:
        """Load the version `champion` names and the offer catalogue as the feature store has
        it now (local callers, or the admin token): the pipeline calls this right after a
        promotion and a materialization."""
        actor = self._admin(ctx)
        response = reload_response(self.app.reload())
        self.app.audit.append(
            "reload", actor, version=response.version, changed=response.changed,
            catalogue_changed=response.catalogue.changed,
        )  # fmt: skip
        return response

    @bentoml.api(route=ERASE_ROUTE, input_spec=EraseRequest)
    def erase(self, customer_id: str, ctx: bentoml.Context) -> EraseResponse:
        """Erase a customer from every store the platform writes (the admin token; local
        callers only when none is configured). 202 once the request is recorded and the
        customer suppressed (no ingest, replay or stream brings them back, and this worker has
        forgotten them); the stores are erased in the background and every worker forgets them
        within a poll. 404 for an id no store knows (nothing is touched)."""
        actor = self._admin(ctx, token_required=True)
        try:
            request_erasure(self.settings, customer_id, actor)
        except UnknownCustomer as exc:
            return _refused(404, f"customer {exc} is unknown to every store: nothing erased", ctx)
        except AlreadyErased:
            return EraseResponse(
                status="already_erased", customer_ref=self.app.audit.customer(customer_id)
            )
        self.app.forgetting.sweep()
        self._erasures.submit(self._erase, customer_id, actor)
        ctx.response.status_code = 202
        return EraseResponse(status="accepted", customer_ref=self.app.audit.customer(customer_id))

    def _erase(self, customer_id: str, actor: str) -> None:
        try:
            erase_customer(self.settings, customer_id, actor)
        except ErasureInterrupted as stop:  # audited; `privacy erase --pending` resumes it
            logger.warning(
                "the erasure of %s… stopped at %s; the daily run's apply_erasures resumes it",
                stop.customer_ref[:12], stop.store,
            )  # fmt: skip
        except Exception as exc:  # the request stays pending: resumed the same way
            logger.error("an erasure failed (%s); it stays pending", type(exc).__name__)

    def _admin(self, ctx: bentoml.Context, *, token_required: bool = False) -> str:
        """Check the caller of an admin endpoint; returns who it is, for the audit log."""
        client = ctx.request.client
        authorize(
            client.host if client else None,
            ctx.request.headers.get("authorization"),
            self.settings.serving.admin_token,
            token_required=token_required,
        )
        return f"admin@{client.host if client else 'unknown'}"

    def __is_ready__(self) -> bool:
        return self.app.ready

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self._erasures.shutdown(wait=True)
        self.app.close()
        self.event_sink.close()


def _refused(
    status: int,
    message: str,
    ctx: bentoml.Context | None = None,
    retry_after: int | None = None,
) -> JSONResponse:
    """An error answer as the published document describes it (``{"error": …}``). Returned,
    not raised: BentoML answers a raised 4xx with the body wrapped in a list, and a raised 5xx
    without its message. ``retry_after``: seconds a client should wait before trying again."""
    if ctx is not None:  # an endpoint with a context answers the context's status
        ctx.response.status_code = status
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return JSONResponse({"error": message}, status, headers=headers)


# Every endpoint answers about one customer but the admin ones, which check their own caller:
# guarded unless left out here on purpose, so a new endpoint cannot be forgotten.
PERSONAL = [
    api.route for api in RankingService.apis.values() if not api.route.startswith(ADMIN_PREFIX)
]
ADMIN = [api.route for api in RankingService.apis.values() if api.route.startswith(ADMIN_PREFIX)]
# What endpoints answer besides 200 and the errors any may give (serving.contract): the body's
# schema, None for the 200's.
STATUSES: dict[str, dict[int, str | None]] = {
    "/explain": {404: ERROR, 503: ERROR},
    "/engagement": {404: ERROR, 503: ERROR},
    "/feedback": {202: None, 503: None},
    "/quiz": {202: None, 503: None},
    "/consent": {202: None, 503: None},
    ERASE_ROUTE: {202: None, 404: ERROR},
}


def openapi_document() -> dict:
    """The OpenAPI document ``GET /docs.json`` publishes: every endpoint, as it answers."""
    paths, schemas = published_paths()
    return published_document(
        RankingService.openapi_spec.asdict(),
        personal=PERSONAL,
        admin=ADMIN,
        statuses=STATUSES,
        extra_paths=paths,
        extra_schemas=schemas,
    )


# First (outermost): a body too large or not JSON is refused before anything reads it.
RankingService.add_asgi_middleware(
    RequestBodies, max_body_bytes=get_settings().serving.max_body_bytes
)
RankingService.add_asgi_middleware(PublishedDocument, document=openapi_document)
RankingService.add_asgi_middleware(PersonalRoutes, verifier=VERIFIER, routes=PERSONAL)
# A forwarded request is no local caller, and an admin refusal says why (as JSON).
RankingService.add_asgi_middleware(AdminGate, admin_token=get_settings().serving.admin_token)
