"""What the ranking service knows besides the model features, read through Feast.

- The offer catalogue (the data set's catalogue view) with each offer's popularity (one feature
  of its offer stats view): every offer's latest row, read from the views' offline sources
  through Feast's offline store, the same call materialization makes (DuckDB over Parquet
  locally, BigQuery in production). The service holds it in memory, so the non-personal tiers
  that order by popularity keep answering while the online store is down, and reloads it when
  the registry shows a newer materialization of those views.
- Quiz answers (the data set's quiz view): read from the online store on the cold-start path,
  so an answer that reaches the store is used by the next request.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd
from feast import FeatureStore
from feast.infra.offline_stores.offline_utils import get_offline_store_from_config

from smartstack.datasets.adapter import DatasetAdapter
from smartstack.featurestore.rows import EntityRows, ViewRead, entity_rows

# Every row ever written: the newest per entity wins.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)
# Feast's local offline store reads through ibis's default DuckDB connection, one per process,
# which refuses a second call while one runs: the service reads the catalogue from its state
# poller and from feedback threads (offer categories), so one read at a time.
_OFFLINE_READ = threading.Lock()


def latest_rows(
    store: FeatureStore, view_name: str, features: Sequence[str] | None = None
) -> pd.DataFrame:
    """The newest row of every entity of a batch view (its join key and ``features``, default
    all), from the view's offline source."""
    view = store.get_feature_view(view_name)
    source = view.batch_source
    key = view.entity_columns[0].name
    names = list(features or [f.name for f in view.features])
    offline = get_offline_store_from_config(store.config.offline_store)
    with _OFFLINE_READ, warnings.catch_warnings():
        # ibis calls a DuckDB method DuckDB deprecated
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="ibis")
        job = offline.pull_latest_from_table_or_query(
            config=store.config,
            data_source=source,
            join_key_columns=[key],
            feature_name_columns=names,
            timestamp_field=source.timestamp_field,
            created_timestamp_column=source.created_timestamp_column or None,
            start_date=_EARLIEST,
            end_date=_LATEST,
        )
        return job.to_df()[[key, *names]]


def catalogue_frame(store: FeatureStore, dataset: DatasetAdapter) -> pd.DataFrame:
    """Every offer of the catalogue with its terms and ``popularity`` (0 where unknown)."""
    offers = latest_rows(store, dataset.catalogue_view)
    ref = dataset.popularity
    rates = latest_rows(store, ref.view, [ref.feature]).rename(columns={ref.feature: "popularity"})
    frame = offers.merge(rates, on="offer_id", how="left")
    frame["popularity"] = pd.to_numeric(frame["popularity"], errors="coerce").fillna(0.0)
    return frame


def materializations(store: FeatureStore, views: Sequence[str]) -> tuple[datetime, ...]:
    """When each materialization of ``views`` ended, oldest first, from the registry (read
    again first): a new entry tells a long-running reader that the catalogue may have changed,
    even when a rerun loaded the same time range again."""
    store.refresh_registry()
    return tuple(
        sorted(
            interval[1]
            for name in views
            for interval in store.get_feature_view(name).materialization_intervals
        )
    )


class QuizAnswers:
    """Each customer's latest quiz answer, from the online store: the stated favourite
    category (cold start) and when it was given (whether the monthly quiz is due)."""

    def __init__(self, store: FeatureStore, view_name: str, timeout_s: float) -> None:
        view = store.get_feature_view(view_name)
        self._rows: EntityRows = entity_rows(
            store.config,
            [ViewRead(view, view.entity_columns[0].name, [f.name for f in view.features], False)],
            timeout_s,
        )

    def favourite(self, customer_id: str) -> str | None:
        ((values, _),) = self._rows.read([customer_id])
        return values.get("stated_favourite_category")

    def answered_at(self, customer_id: str) -> datetime | None:
        """When the latest answer the store holds was given (batch-loaded or live)."""
        ((_, at),) = self._rows.read([customer_id])
        return at.replace(tzinfo=UTC) if at else None

    def close(self) -> None:
        self._rows.close()
