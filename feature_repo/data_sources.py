"""Where the feature views read from: dbt's feature marts.

Locally the marts are Parquet files that dbt-duckdb writes (``<data_dir>/features``); in the
``prod`` profile they are BigQuery tables in the configured dataset; on the spark warehouse
they are the same paths as folders of Parquet parts, read by Feast's Spark offline store. Which
one is decided by the ``warehouse`` setting, so the feature views themselves do not change
between profiles.
"""

from feast import Field, FileSource, PushSource, RequestSource
from feast.data_source import DataSource
from feast.infra.offline_stores.bigquery_source import BigQuerySource
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
from feast.types import UnixTimestamp

from smartstack.featurestore.config import definition_settings
from smartstack.settings import Warehouse


def mart_source(mart: str) -> DataSource:
    """The batch source over one dbt feature mart, for the active warehouse."""
    settings = definition_settings()
    if settings.warehouse is Warehouse.bigquery:
        return BigQuerySource(
            name=f"{mart}_source",
            table=f"{settings.bigquery_project}.{settings.bigquery_dataset}.{mart}",
            timestamp_field="event_timestamp",
        )
    path = str(settings.mart_path(mart))
    if settings.warehouse is Warehouse.spark:
        return SparkSource(
            name=f"{mart}_source",
            path=path,
            file_format="parquet",
            timestamp_field="event_timestamp",
        )
    return FileSource(name=f"{mart}_source", path=path, timestamp_field="event_timestamp")


customer_spend_source = mart_source("customer_spend_features")
customer_profile_source = mart_source("customer_profile_features")
offer_stats_source = mart_source("offer_features")
offer_catalog_source = mart_source("offer_catalog")
customer_quiz_source = mart_source("customer_quiz_answers")
customer_engagement_source = mart_source("customer_engagement_features")
customer_recent_spend_batch_source = mart_source("customer_recent_spend")
# Built for every data set (not a model feature: what each customer consented to).
customer_consent_source = mart_source("customer_consent")

# The Starbucks data set's marts (dbt models/marts/starbucks).
starbucks_demographics_source = mart_source("starbucks_customer_demographics")
starbucks_activity_source = mart_source("starbucks_customer_activity")
starbucks_offer_history_source = mart_source("starbucks_customer_offer_history")
starbucks_offer_source = mart_source("starbucks_offer_features")
starbucks_offer_catalog_source = mart_source("starbucks_offer_catalog")

# Fresh spend pushed by the stream processor lands online at once, without a batch run.
customer_recent_spend_push_source = PushSource(
    name="customer_recent_spend_push",
    batch_source=customer_recent_spend_batch_source,
)

# Quiz answers pushed by the stream processor as customers give them; the mart loads the same
# view in batch (materialization) and for training (point in time).
customer_quiz_push_source = PushSource(
    name="customer_quiz_push",
    batch_source=customer_quiz_source,
)

# Engagement signals pushed by the stream processor as it counts feedback and quiz answers; the
# mart computes the same signals as of each snapshot, for materialization and training.
customer_engagement_push_source = PushSource(
    name="customer_engagement_push",
    batch_source=customer_engagement_source,
)

# Consent changes written by the stream (and the service without a broker) within seconds; the
# mart loads the recorded consent in batch.
customer_consent_push_source = PushSource(
    name="customer_consent_push",
    batch_source=customer_consent_source,
)

# What only the request knows: when it is made.
ranking_request = RequestSource(
    name="ranking_request",
    schema=[Field(name="request_timestamp", dtype=UnixTimestamp)],
)
