"""Fill the explanation cache for every customer's top offers, after ranking.

The batch pipeline calls `precompute` once ranking has produced each customer's top-k offers, so
that `/rank` finds every explanation it needs in the cache and never waits on an LLM. LLM calls
are I/O-bound, so a small thread pool overlaps them; a `TokenBudget` on the explainer bounds the
cost of a run. Explanations already final for the same feature version and model are skipped, so
re-running after a partial failure only retries what failed for a transient reason.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from smartstack.messaging.explainer import Explainer
from smartstack.messaging.explanation import Explanation
from smartstack.messaging.facts import ExplanationFacts, build_facts

CHUNK = 1_000
# One ranked offer: (offer_id, reason codes as (feature name, contribution) pairs).
RankedOffer = tuple[str, Sequence[tuple[str, float]]]


@dataclass
class PrecomputeReport:
    """What a precompute run produced, for logs and the pipeline's run summary."""

    total: int = 0
    by_source: Counter[str] = field(default_factory=Counter)
    fallback_reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, explanation: Explanation) -> None:
        self.total += 1
        self.by_source[explanation.source.value] += 1
        if explanation.fallback_reason:
            self.fallback_reasons[explanation.fallback_reason.value] += 1


def top_offer_facts(
    features: Mapping[str, Mapping[str, Any]],
    offers: Mapping[str, Mapping[str, Any]],
    ranked: Mapping[str, Sequence[RankedOffer]],
    feature_version: str,
) -> Iterator[ExplanationFacts]:
    """Facts for each customer's ranked offers.

    `features` maps customer_id to its feature row, `offers` offer_id to its offers-table row,
    and `ranked` customer_id to its top-k offers in rank order.
    """
    for customer_id, top in ranked.items():
        for offer_id, reasons in top:
            yield build_facts(features[customer_id], offers[offer_id], reasons, feature_version)


def precompute(
    explainer: Explainer,
    facts: Iterable[ExplanationFacts],
    *,
    pii: Mapping[str, Mapping[str, object]] | None = None,
    workers: int = 4,
) -> PrecomputeReport:
    """Explain every (customer, offer) in `facts` into the explainer's cache.

    `pii` optionally maps customer_id to its `customer_pii` row, so that the customer's own
    values are redacted from prompts even where no rule recognises them.
    """
    started = time.perf_counter()
    report = PrecomputeReport()

    def one(f: ExplanationFacts) -> Explanation:
        return explainer.explain(f, pii=pii.get(f.customer_id) if pii else None)

    items = iter(facts)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="explain") as pool:
        # In chunks, so that millions of (customer, offer) pairs are never all in memory at once.
        while chunk := list(islice(items, CHUNK)):
            for explanation in pool.map(one, chunk):
                report.add(explanation)
    report.seconds = round(time.perf_counter() - started, 3)
    return report
