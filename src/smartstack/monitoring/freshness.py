"""How fresh the online store, the stream processor and the champion are (docs/monitoring.md).

- **Feature views**: each batch view registered in Feast (``feast apply`` registers exactly the
  data set's feature service, its catalogue views and the consent view) and the newest instant
  the online store was loaded up to (the registry's latest materialization end). A view is
  stale when that instant is older than ``view_cadence_hours + freshness_slack_hours``;
  a view never materialized is stale.
- **Champion**: how long ago the version the ``champion`` alias names was registered.
- **Stream**: the stream processor's consumer lag per partition (high watermark minus the
  group's committed offset), when a broker is configured.

Ages count from "now": the wall clock, or with ``monitoring.clock=dataset`` (the local
default) the data set's snapshot, since a generated or historical data set ends in the past
and its materializations end at its snapshot. The champion's age always counts from the wall
clock: a version is registered in wall time, whatever the data set's clock says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from feast import FeatureStore

from smartstack.data.manifest import Manifest
from smartstack.serving import metrics
from smartstack.settings import MonitoringSettings, Settings


@dataclass(frozen=True)
class ViewFreshness:
    view: str
    newest: datetime | None  # the latest materialization end; None: never materialized
    age_seconds: float | None
    stale: bool


@dataclass(frozen=True)
class ChampionAge:
    model: str
    alias: str
    version: str | None  # None: no version carries the alias (or the registry did not answer)
    registered: datetime | None
    age_seconds: float | None
    problem: str | None = None


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    lag: int


@dataclass(frozen=True)
class Freshness:
    """One look at every freshness signal."""

    now: datetime
    clock: str
    threshold_hours: float
    views: tuple[ViewFreshness, ...]
    champion: ChampionAge | None = None
    lag: tuple[PartitionLag, ...] | None = None  # None: no broker configured

    @property
    def stale(self) -> list[str]:
        return [v.view for v in self.views if v.stale]

    def to_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        return plain({**asdict(self), "stale": self.stale})


def now_of(settings: Settings) -> datetime:
    """The moment view ages count from: the wall clock, or the data set's snapshot (the wall
    clock before anything landed)."""
    if settings.monitoring.clock == "dataset":
        manifest = Manifest.read(settings.data_dir)
        if manifest is not None:
            return _utc(manifest.snapshot)
    return datetime.now(UTC)


def view_freshness(
    store: FeatureStore, now: datetime, config: MonitoringSettings
) -> tuple[ViewFreshness, ...]:
    """Every online batch view's newest materialized instant and its age at ``now``, from the
    registry (read again first)."""
    store.refresh_registry()
    limit = (config.view_cadence_hours + config.freshness_slack_hours) * 3600
    views = []
    for view in sorted(store.list_batch_feature_views(), key=lambda v: v.name):
        if not view.online:
            continue
        ends = [_utc(end) for _start, end in view.materialization_intervals]
        newest = max(ends) if ends else None
        age = max((now - newest).total_seconds(), 0.0) if newest else None
        views.append(ViewFreshness(view.name, newest, age, age is None or age > limit))
    return tuple(views)


def champion_age(tracking_uri: str, model: str, alias: str = "champion") -> ChampionAge:
    """When the version ``alias`` names was registered, and its age by the wall clock."""
    from mlflow import MlflowClient

    try:
        version = MlflowClient(tracking_uri, tracking_uri).get_model_version_by_alias(model, alias)
    except Exception as exc:  # no alias, no model, or no registry: reported, not raised
        return ChampionAge(model, alias, None, None, None, f"{type(exc).__name__}: {exc}"[:300])
    registered = datetime.fromtimestamp(version.creation_timestamp / 1000, UTC)
    age = (datetime.now(UTC) - registered).total_seconds()
    return ChampionAge(model, alias, str(version.version), registered, age)


def consumer_lag(
    servers: str, group: str, topics: Sequence[str], timeout: float = 10.0
) -> tuple[PartitionLag, ...]:
    """Per partition of ``topics``: the high watermark minus ``group``'s committed offset (the
    whole partition when the group never committed one). Asks the broker; never joins the
    group (assigned, not subscribed, and never commits), so the processor's assignment is
    untouched.

    The high watermark is the one a fetch response carries, not the ListOffsets answer: the
    local broker (tansu 0.6) answers ListOffsets(latest) with the newest *batch's* base offset
    plus one, so a partition whose newest batch holds several records looked almost caught up.
    ListOffsets is the fallback for a partition no fetch answered within ``timeout``."""
    import time

    from confluent_kafka import Consumer, TopicPartition

    from smartstack.events.kafka import consumer_config

    # One small fetch per partition is enough for its watermark: not the backlog itself.
    consumer = Consumer(consumer_config(servers, group, **{"max.partition.fetch.bytes": 1024}))
    try:
        known = consumer.list_topics(timeout=timeout).topics
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            if topic in known
            for p in known[topic].partitions
        ]
        if not partitions:
            return ()
        committed = sorted(
            consumer.committed(partitions, timeout=timeout), key=lambda t: (t.topic, t.partition)
        )
        consumer.assign(committed)  # fetch from the committed offsets (the earliest without)

        def fetched(tp: TopicPartition) -> int:
            return consumer.get_watermark_offsets(tp, cached=True)[1]

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and min(fetched(tp) for tp in committed) < 0:
            consumer.poll(0.1)
        lags = []
        for tp in committed:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
            high = max(high, fetched(tp))
            start = tp.offset if tp.offset >= 0 else low
            lags.append(PartitionLag(tp.topic, tp.partition, max(high - start, 0)))
        return tuple(lags)
    finally:
        consumer.close()


def check(settings: Settings, store: FeatureStore | None = None) -> Freshness:
    """Every signal the settings make available: views and champion always, the stream's lag
    when a broker is configured."""
    from smartstack.events.processor import GROUP, SUBSCRIBED
    from smartstack.featurestore.store import get_store

    now = now_of(settings)
    lag = None
    if settings.kafka_bootstrap_servers:
        topics = [t.value for t in SUBSCRIBED]
        lag = consumer_lag(settings.kafka_bootstrap_servers, GROUP, topics)
    return Freshness(
        now=now,
        clock=settings.monitoring.clock,
        threshold_hours=settings.monitoring.view_cadence_hours
        + settings.monitoring.freshness_slack_hours,
        views=view_freshness(store or get_store(settings), now, settings.monitoring),
        champion=champion_age(
            settings.mlflow_tracking_uri,
            settings.registered_model_name,
            settings.serving.model_alias,
        ),
        lag=lag,
    )


def publish(report: Freshness) -> None:
    """Set the ranking service's freshness gauges from ``report``."""
    for view in report.views:
        # A never-materialized view has no age: it is stale, and its age stays unset.
        if view.age_seconds is not None:
            metrics.VIEW_AGE.labels(view.view).set(view.age_seconds)
        metrics.VIEW_STALE.labels(view.view).set(1 if view.stale else 0)
    champion = report.champion
    if champion is not None and champion.age_seconds is not None:
        metrics.CHAMPION_AGE.labels(champion.model).set(champion.age_seconds)


class FreshnessWatch:
    """The ranking service's poll duty: look at the registries the service already follows and
    set the gauges (on the poller's thread, so no request pays for it)."""

    def __init__(self, settings: Settings, store: FeatureStore) -> None:
        self._settings = settings
        self._store = store

    def __call__(self) -> None:
        settings = self._settings
        now = now_of(settings)
        publish(
            Freshness(
                now=now,
                clock=settings.monitoring.clock,
                threshold_hours=settings.monitoring.view_cadence_hours
                + settings.monitoring.freshness_slack_hours,
                views=view_freshness(self._store, now, settings.monitoring),
                champion=champion_age(
                    settings.mlflow_tracking_uri,
                    settings.registered_model_name,
                    settings.serving.model_alias,
                ),
            )
        )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
