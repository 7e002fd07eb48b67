"""Prometheus metrics of the ranking service, exposed by BentoML at ``/metrics``.

Plain prometheus_client objects: BentoML points prometheus_client at a multiprocess directory
before it starts workers and serves everything found there, so these work with any number of
worker processes.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
RANK_CACHE = Counter(
    "smartstack_rank_cache_lookups",
    "Personal rankings looked up in the worker's ranking cache (exposed as "
    "smartstack_rank_cache_lookups_total), by result: hit (reused) or miss (ranked afresh).",
    ["result"],
)
CONSENT_LIMITED = Counter(
    "smartstack_consent_limited",
    "Answers a customer's refused consent changed (exposed as smartstack_consent_limited_total),"
    " by purpose: personalization (the non-personal tier), llm_messaging (template text only),"
    " analytics (no ranking-log row).",
    ["purpose"],
)

# Freshness (docs/monitoring.md), set on the state poller's beat by the service's poll duty
# (smartstack.monitoring.freshness.FreshnessWatch), never on a request. Across worker processes
# the most recent value of a live worker counts.
VIEW_AGE = Gauge(
    "smartstack_feature_view_age_seconds",
    "Age of the newest materialized row of each feature view (the registry's latest "
    "materialization end), at the monitoring clock's now.",
    ["view"],
    multiprocess_mode="livemostrecent",
)
VIEW_STALE = Gauge(
    "smartstack_feature_view_stale",
    "1 when a feature view is older than its cadence plus slack (or never materialized).",
    ["view"],
    multiprocess_mode="livemostrecent",
)
CHAMPION_AGE = Gauge(
    "smartstack_champion_age_seconds",
    "Wall-clock time since the champion's version was registered.",
    ["model"],
    multiprocess_mode="livemostrecent",
)

# The event outbox (smartstack.events.outbox): events accepted while the broker could not take
# them, waiting on this worker's disk. Set on the state poller's beat; summed over live workers.
OUTBOX_EVENTS = Gauge(
    "smartstack_outbox_events",
    "Accepted events kept in the service's outbox until the broker acknowledges them.",
    multiprocess_mode="livesum",
)
