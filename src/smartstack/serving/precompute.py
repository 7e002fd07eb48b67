"""Fill the explanation cache for every customer's top offers, after training.

`/rank` only reads the explanation cache (or renders the template on a miss), so LLM text must be
written before anyone asks for it. This job ranks every customer exactly as the service would
(same ranker, same online features, same champion), without counting the ranking as served, and
asks the explainer for each top offer: the LLM when one is configured, checked for faithfulness,
else the template. The cache key includes the customer's feature snapshot, so the service finds
these entries until the next materialization changes the facts.

LLM calls are I/O-bound, so a few threads overlap them. Explanations already final for the same
snapshot and model are skipped, so a rerun only retries what failed for a transient reason. With
no LLM configured the pipeline skips this job (``smartstack explanations precompute`` exits 75):
the template it would store is the text `/rank` renders itself for an offer it finds no entry for.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from smartstack.data.manifest import Manifest
from smartstack.serving.app import RankingApp
from smartstack.serving.schemas import RankRequest, RankResponse, RequestContext
from smartstack.settings import Settings

PRECOMPUTE_CHANNEL = "app"
PRECOMPUTE_DEADLINE_S = 10.0  # per explanation, retries included: no one is waiting on a batch
PRECOMPUTE_READ_TIMEOUT_MS = 10_000.0
LLM_THREADS = 4  # LLM calls overlapped by default


@dataclass
class PrecomputeReport:
    """What a precompute run produced, for the run's output and logs."""

    customers: int = 0
    explanations: int = 0
    by_source: Counter[str] = field(default_factory=Counter)
    fallback_reasons: Counter[str] = field(default_factory=Counter)
    tiers: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, response: RankResponse) -> None:
        self.customers += 1
        self.tiers[response.tier.value] += 1
        for offer in response.offers:
            if offer.explanation is None:
                continue
            self.explanations += 1
            self.by_source[offer.explanation.source] += 1
            if offer.explanation.fallback_reason:
                self.fallback_reasons[offer.explanation.fallback_reason] += 1

    def summary(self) -> str:
        sources = ", ".join(f"{n} {s}" for s, n in sorted(self.by_source.items())) or "none"
        return (
            f"{self.explanations} explanations for {self.customers} customers "
            f"({sources}) in {self.seconds:.1f}s"
        )


def data_snapshot(settings: Settings) -> datetime | None:
    """The data set's snapshot time (its manifest's ``snapshot``), if it has one."""
    manifest = Manifest.read(settings.data_dir)
    return manifest.snapshot.astimezone(UTC) if manifest else None


def precompute_explanations(
    settings: Settings,
    *,
    top: int = 3,
    at: datetime | None = None,
    customers: Sequence[str] | None = None,
    threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PrecomputeReport:
    """Rank and explain the top ``top`` offers of each customer as of ``at``.

    ``at`` defaults to the data set's snapshot (offers valid then), else now; ``customers`` to
    every customer in the raw ``customers`` table; ``threads`` to :data:`LLM_THREADS`.
    """
    threads = threads or LLM_THREADS
    when = at or data_snapshot(settings) or datetime.now(UTC)
    if customers is None:
        ids = pd.read_parquet(settings.raw_dir / "customers", columns=["customer_id"])
        customers = ids["customer_id"].tolist()
    # A batch job: no one waits on one read, so no request deadline and no breaker shedding.
    batch = settings.serving.model_copy(
        update={
            "explain_top": top,
            "explain_deadline_s": PRECOMPUTE_DEADLINE_S,
            "feature_timeout_ms": PRECOMPUTE_READ_TIMEOUT_MS,
            "breaker_failures": 0,
            "frequency_cap": 0,
            "model_poll_seconds": 3600,
        }
    )
    app = RankingApp(settings.model_copy(update={"serving": batch}), log_snapshots=False)
    report = PrecomputeReport()
    started = time.perf_counter()
    context = RequestContext.model_construct(channel=PRECOMPUTE_CHANNEL, timestamp=when)

    def one(customer_id: str) -> RankResponse:
        request = RankRequest.model_construct(
            customer_id=customer_id,
            context=context,
            candidate_offer_ids=None,
            k=top,
            explain=True,
        )
        return app.ranker.rank(request, live_explanations=True, record=False)

    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="precompute") as pool:
            for done, response in enumerate(pool.map(one, customers), start=1):
                report.add(response)
                if on_progress:
                    on_progress(done, len(customers))
    finally:
        app.close()
    report.seconds = time.perf_counter() - started
    return report
