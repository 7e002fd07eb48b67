"""Prometheus metrics of the ranking service, exposed by BentoML at ``/metrics``.

Plain prometheus_client objects: BentoML points prometheus_client at a multiprocess directory
before it starts workers and serves everything found there, so these work with any number of
worker processes.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

LATENCY = Histogram(
    "smartstack_rank_latency_seconds",
    "Time spent ranking one request inside the service, by tier.",
    ["tier"],
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)
TIERS = Counter(
    "smartstack_rank_tier",
    "Rankings served, by the fallback tier that produced them.",
    ["tier"],
)
ERRORS = Counter(
    "smartstack_rank_errors",
    "Failures handled by falling back (feature store, model, rules, snapshots).",
    ["kind"],
)
CONSENT_LIMITED = Counter(
    "smartstack_consent_limited",
    "Answers a customer's refused consent changed (exposed as smartstack_consent_limited_total),"
    " by purpose: personalization (the non-personal tier), llm_messaging (template text only),"
    " analytics (no ranking-log row).",
    ["purpose"],
)
