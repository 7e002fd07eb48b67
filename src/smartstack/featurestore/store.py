"""Feature-store operations used by the CLI, the DAGs, training and serving."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
from feast import FeatureService, FeatureStore, Project
from feast.feature_view import DUMMY_ENTITY_NAME
from feast.repo_contents import RepoContents
from feast.repo_operations import apply_total_with_repo_instance, parse_repo

from smartstack.data.manifest import Manifest
from smartstack.datasets import active, feature_service_name
from smartstack.featurestore.config import PROJECT, REPO_PATH, applying, repo_config
from smartstack.featurestore.historical import historical_features
from smartstack.privacy.purposes import CONSENT_VIEW
from smartstack.settings import OnlineStore, Settings, get_settings


class UnknownFeatureService(LookupError):
    """The configured feature service is not defined in feature_repo/; one sentence."""


def _prepare_local_dirs(settings: Settings) -> None:
    (settings.home / "feast").mkdir(parents=True, exist_ok=True)
    if settings.online_store is OnlineStore.sqlite:
        settings.sqlite_online_path.parent.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=4)
def _store_for(settings_json: str) -> FeatureStore:
    return FeatureStore(config=repo_config(Settings.model_validate_json(settings_json)))


def get_store(settings: Settings | None = None) -> FeatureStore:
    """One warm FeatureStore per settings in this process (its registry is cached forever)."""
    settings = settings or get_settings()
    _prepare_local_dirs(settings)
    return _store_for(settings.model_dump_json())


@contextmanager
def _inside(folder: Path) -> Iterator[None]:
    """Work in ``folder``, then go back: a caller's relative paths (the default home) must not
    resolve inside the feature repository afterwards."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def apply(settings: Settings | None = None) -> None:
    """``feast apply`` of the active feature service: register it and exactly what it reads
    (views, sources, entities) from ``feature_repo/``, with the views serving reads beside it
    (the data set's catalogue, popularity and quiz), and create their online tables.

    ``feature_repo/`` defines the services of every data set; each data set's marts exist only
    where it was built, so registering (and validating the sources of) another data set's
    views would fail. Objects of the registry that the service does not need are removed.
    """
    settings = settings or get_settings()
    _prepare_local_dirs(settings)
    # The definition files import each other by module name, as the `feast` CLI allows by
    # running from inside the repository.
    if str(REPO_PATH) not in sys.path:
        sys.path.insert(0, str(REPO_PATH))
    # Re-import the definitions, so data sources follow the settings of this call.
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "") or "").startswith(str(REPO_PATH)):
            del sys.modules[name]
    config = repo_config(settings)
    with applying(settings), _inside(REPO_PATH):  # as `feast apply` does: module paths
        repo = service_contents(  # are relative to the repository
            parse_repo(REPO_PATH),
            feature_service_name(settings),
            (*active(settings).catalogue_views, *PRIVACY_VIEWS),
        )
        store = FeatureStore(config=config)
        apply_total_with_repo_instance(
            store, PROJECT, store.registry, repo, skip_source_validation=False
        )
    _store_for.cache_clear()


# Registered whatever the data set and feature service: what each customer consented to, which
# the stream writes and serving reads for every data set (in no feature service).
PRIVACY_VIEWS: tuple[str, ...] = (CONSENT_VIEW,)


def service_contents(
    repo: RepoContents, service_name: str, extra_views: Sequence[str] = ()
) -> RepoContents:
    """The part of ``repo`` one feature service needs: the service, its views (and the views
    its on-demand views read), ``extra_views``, their data sources and entities."""
    services = {s.name: s for s in repo.feature_services}
    if service_name not in services:
        raise UnknownFeatureService(
            f"no feature service {service_name!r} in {REPO_PATH}: defined are "
            + ", ".join(sorted(services))
        )
    service = services[service_name]
    wanted = {p.name for p in service.feature_view_projections} | set(extra_views)
    on_demand = [v for v in repo.on_demand_feature_views if v.name in wanted]
    wanted |= {p.name for v in on_demand for p in v.source_feature_view_projections.values()}
    views = [v for v in repo.feature_views if v.name in wanted]
    streams = [v for v in repo.stream_feature_views if v.name in wanted]
    sources = {s.name for v in on_demand for s in v.source_request_sources.values()}
    for view in (*views, *streams):
        sources |= {s.name for s in (view.batch_source, view.stream_source) if s is not None}
    entities = {e for view in (*views, *streams) for e in view.entities} | {DUMMY_ENTITY_NAME}
    return repo._replace(
        projects=repo.projects or [Project(name=PROJECT)],
        feature_services=[service],
        on_demand_feature_views=on_demand,
        feature_views=views,
        stream_feature_views=streams,
        data_sources=[s for s in repo.data_sources if s.name in sources],
        entities=[e for e in repo.entities if e.name in entities],
    )


def snapshot_time(settings: Settings) -> datetime:
    """The data set's snapshot (its end) from the generator/ingestion manifest, else now."""
    manifest = Manifest.read(settings.data_dir)
    return manifest.snapshot if manifest else datetime.now(UTC)


def materialize(settings: Settings | None = None, end: datetime | None = None) -> datetime:
    """Load the online store up to the data set's snapshot; each later run loads only what is new.

    Feast's ``materialize_incremental`` starts a never-materialized view at *now − TTL*, which
    skips a data set whose snapshot lies further back (generated or replayed data). A view's
    first load therefore covers its TTL before the snapshot; after that it is incremental.
    """
    settings = settings or get_settings()
    end = end or snapshot_time(settings) + timedelta(seconds=1)
    store = get_store(settings)
    views = [v for v in store.list_batch_feature_views() if v.online]
    views += [v for v in store.list_stream_feature_views() if v.online]
    for view in (v for v in views if not v.materialization_intervals):
        start = end - (view.ttl or timedelta(days=30))
        store.materialize(start_date=start, end_date=end, feature_views=[view.name])
    store.materialize_incremental(end_date=end)
    return end


def feature_service(settings: Settings | None = None) -> FeatureService:
    """The active data set's feature service (or the ``feature_service`` setting's)."""
    settings = settings or get_settings()
    return get_store(settings).get_feature_service(feature_service_name(settings))


def model_feature_names(settings: Settings | None = None) -> list[str]:
    """The model's input columns, in order: the feature service's features."""
    service = feature_service(settings)
    return [field.name for view in service.feature_view_projections for field in view.features]


def training_frame(entity_df: pd.DataFrame, settings: Settings | None = None) -> pd.DataFrame:
    """Point-in-time join of the feature service onto labelled rows.

    ``entity_df`` needs ``customer_id``, ``offer_id``, ``event_timestamp`` (UTC) and
    ``request_timestamp``; each row gets the feature values known at its event time. The
    frame is Feast's ``to_df`` of the service, with its on-demand views applied column-wise
    (:mod:`smartstack.featurestore.historical` says why).
    """
    return historical_features(get_store(settings), feature_service(settings), entity_df)


# What a training set's entity frame must carry: the entities' join keys, the event time and
# the on-demand views' request data.
ENTITY_COLUMNS = ["customer_id", "offer_id", "event_timestamp", "request_timestamp"]
LABEL_COLUMNS = [
    "impression_id",
    "request_id",
    "customer_id",
    "offer_id",
    "event_timestamp",
    "channel",
    "position",
    "outcome",
    "viewed",
    "clicked",
    "redeemed",
    "relevance",
]


def labelled_path(settings: Settings) -> Path:
    """The data set's dbt mart of labelled rows (``training_impressions`` for synthetic)."""
    return settings.mart_path(active(settings).labelled_mart)


def _built_labelled_path(settings: Settings) -> Path:
    """:func:`labelled_path`, or what to run when dbt has not written it."""
    path = labelled_path(settings)
    if not path.exists():
        raise FileNotFoundError(f"no labelled impressions at {path}: run `smartstack dbt build`")
    return path


def labelled_impressions(
    settings: Settings | None = None, customers: Sequence[str] | None = None
) -> pd.DataFrame:
    """The dbt mart of labelled impressions, as the entity frame of a training set: every
    customer's rows, or those of ``customers``."""
    settings = settings or get_settings()
    path = _built_labelled_path(settings)
    # Offer attributes come from the feature views, so only keys, times, labels and the data
    # set's evaluation-only columns are kept.
    frame = pd.read_parquet(
        path,
        columns=[*LABEL_COLUMNS, *active(settings).evaluation_columns],
        filters=None if customers is None else [("customer_id", "in", list(customers))],
    )
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    frame["request_timestamp"] = frame["event_timestamp"]
    return frame


def labelled_customers(settings: Settings) -> pd.Series:
    """Each customer with a labelled impression, once (read from the key column alone)."""
    ids = pq.read_table(_built_labelled_path(settings), columns=["customer_id"])["customer_id"]
    return pd.Series(pc.unique(ids).to_pylist(), name="customer_id")


def training_set(settings: Settings | None = None) -> pd.DataFrame:
    """Every labelled impression with the feature service's values as of its event time.

    The data set's evaluation-only columns stay out of Feast's entity frame (a feature may
    share a name, such as the offer type) and are joined back by impression.
    """
    settings = settings or get_settings()
    labelled = labelled_impressions(settings)
    extra = list(active(settings).evaluation_columns)
    frame = training_frame(labelled.drop(columns=extra), settings)
    if not extra:
        return frame
    evaluation = labelled[["impression_id", *extra]]
    return frame.drop(columns=[c for c in extra if c in frame]).merge(
        evaluation, on="impression_id", how="left"
    )
