"""Feature-store operations used by the CLI, the DAGs, training and serving."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import pandas as pd
from feast import FeatureService, FeatureStore
from feast.repo_operations import apply_total

from smartstack.featurestore.config import FEATURE_SERVICE, REPO_PATH, applying, repo_config
from smartstack.settings import OnlineStore, Settings, get_settings


def _prepare_local_dirs(settings: Settings) -> None:
    (settings.home / "feast").mkdir(parents=True, exist_ok=True)
    if settings.online_store is OnlineStore.sqlite:
        assert settings.sqlite_online_path is not None
        settings.sqlite_online_path.parent.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=4)
def _store_for(settings_json: str) -> FeatureStore:
    return FeatureStore(config=repo_config(Settings.model_validate_json(settings_json)))


def get_store(settings: Settings | None = None) -> FeatureStore:
    """One warm FeatureStore per settings in this process (its registry is cached forever)."""
    settings = settings or get_settings()
    _prepare_local_dirs(settings)
    return _store_for(settings.model_dump_json())


def apply(settings: Settings | None = None) -> None:
    """``feast apply``: register the definitions in ``feature_repo/`` and create online tables."""
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
    with applying(settings):
        apply_total(repo_config(settings), REPO_PATH, skip_source_validation=False)
    _store_for.cache_clear()


def snapshot_time(settings: Settings) -> datetime:
    """The data set's snapshot (its end) from the generator/ingestion manifest, else now."""
    assert settings.data_dir is not None
    manifest = settings.data_dir / "manifest.json"
    if manifest.exists():
        return datetime.fromisoformat(json.loads(manifest.read_text())["snapshot"])
    return datetime.now(UTC)


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
    return get_store(settings).get_feature_service(FEATURE_SERVICE)


def model_feature_names(settings: Settings | None = None) -> list[str]:
    """The model's input columns, in order: the feature service's features."""
    service = feature_service(settings)
    return [field.name for view in service.feature_view_projections for field in view.features]


def training_frame(entity_df: pd.DataFrame, settings: Settings | None = None) -> pd.DataFrame:
    """Point-in-time join of the feature service onto labelled rows.

    ``entity_df`` needs ``customer_id``, ``offer_id``, ``event_timestamp`` (UTC) and
    ``request_timestamp``; each row gets the feature values known at its event time.
    """
    store = get_store(settings)
    job = store.get_historical_features(
        entity_df=entity_df, features=store.get_feature_service(FEATURE_SERVICE)
    )
    return job.to_df()


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


def labelled_impressions(settings: Settings | None = None) -> pd.DataFrame:
    """The dbt mart of labelled impressions, as the entity frame of a training set."""
    settings = settings or get_settings()
    assert settings.data_dir is not None
    path = settings.data_dir / "features" / "training_impressions.parquet"
    if not path.exists():
        raise FileNotFoundError(f"no labelled impressions at {path}: run `smartstack dbt build`")
    # Offer attributes come from the feature views, so only keys, times and labels are kept.
    frame = pd.read_parquet(path, columns=LABEL_COLUMNS)
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    frame["request_timestamp"] = frame["event_timestamp"]
    return frame


def training_set(settings: Settings | None = None) -> pd.DataFrame:
    """Every labelled impression with the feature service's values as of its event time."""
    return training_frame(labelled_impressions(settings), settings)
