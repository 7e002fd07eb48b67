"""Feature views over the dbt marts, and the views the stream processor pushes to.

Views are named ``<entity>_<topic>``. TTLs are twice the dbt snapshot interval (7 days), so a
training row always finds the latest snapshot before it and a stale online value expires.
Fields that describe a person indirectly carry ``sensitive`` tags.
"""

from datetime import timedelta

from data_sources import (
    customer_consent_push_source,
    customer_engagement_push_source,
    customer_profile_source,
    customer_quiz_push_source,
    offer_catalog_source,
    starbucks_offer_catalog_source,
    customer_recent_spend_push_source,
    customer_spend_source,
    offer_stats_source,
    starbucks_activity_source,
    starbucks_demographics_source,
    starbucks_offer_history_source,
    starbucks_offer_source,
)
from entities import customer, offer
from feast import FeatureView, Field
from feast.stream_feature_view import StreamFeatureView
from feast.data_source import DataSource
from feast.types import Float32, Float64, Int32, Int64, String, UnixTimestamp

from smartstack.data.schema import MERCHANT_CATEGORIES, STARBUCKS_CHANNELS, STARBUCKS_OFFER_TYPES

SPEND_WINDOWS = (7, 30, 90)
SNAPSHOT_TTL = timedelta(days=14)
STATED = {"sensitive": "stated_preference"}

customer_spend = FeatureView(
    name="customer_spend",
    entities=[customer],
    ttl=SNAPSHOT_TTL,
    schema=[
        *(
            Field(name=f"{measure}_{category}_{window}d", dtype=Float64)
            for category in MERCHANT_CATEGORIES
            for window in SPEND_WINDOWS
            for measure in ("spend", "txn_count", "share")
        ),
        *(Field(name=f"trend_{category}", dtype=Float64) for category in MERCHANT_CATEGORIES),
        Field(name="days_since_last_txn", dtype=Int64),
        *(
            Field(name=f"{measure}_{window}d", dtype=dtype)
            for window in SPEND_WINDOWS
            for measure, dtype in (
                ("txn_count", Float64),
                ("spend", Float64),
                ("avg_ticket", Float32),
            )
        ),
    ],
    source=customer_spend_source,
    online=True,
    description="Spend, counts and share of wallet per merchant category over 7/30/90 days, "
    "trend ratios and RFM, as of each dbt snapshot.",
    tags={"layer": "features", "owner_team": "ml"},
)

customer_profile = FeatureView(
    name="customer_profile",
    entities=[customer],
    ttl=SNAPSHOT_TTL,
    schema=[
        Field(name="card_product", dtype=String),
        Field(name="age_band", dtype=String, tags={"sensitive": "quasi_identifier"}),
        Field(name="region", dtype=String, tags={"sensitive": "quasi_identifier"}),
        Field(name="tenure_months", dtype=Int32),
        Field(name="is_new_customer", dtype=Int32),
        Field(name="offer_impressions_90d", dtype=Float64),
        Field(name="offer_views_90d", dtype=Float64),
        Field(name="offers_clicked_90d", dtype=Float64),
        Field(name="redemptions_90d", dtype=Float64),
        Field(name="points_redemption_share", dtype=Float32),
        Field(name="points_click_share", dtype=Float32),
        Field(name="offer_click_rate_90d", dtype=Float32),
        Field(name="active_days_30d", dtype=Int64),
        Field(name="page_views_30d", dtype=Float64),
        Field(name="searches_30d", dtype=Float64),
        Field(name="promotion_views_30d", dtype=Float64),
        Field(name="promotion_selects_30d", dtype=Float64),
        Field(name="has_quiz", dtype=Int32),
        Field(
            name="quiz_favourite_category", dtype=String, tags={"sensitive": "stated_preference"}
        ),
        Field(name="quiz_prefers_rewards", dtype=Int32, tags={"sensitive": "stated_preference"}),
        Field(name="quiz_planning_travel", dtype=Int32, tags={"sensitive": "stated_preference"}),
        Field(name="days_since_quiz", dtype=Int64),
    ],
    source=customer_profile_source,
    online=True,
    description="Card product, tenure, reward-versus-discount focus from past redemptions and "
    "the latest quiz answers, as of each snapshot.",
    tags={"layer": "features", "contains_sensitive": "true"},
)

offer_stats = FeatureView(
    name="offer_stats",
    entities=[offer],
    ttl=SNAPSHOT_TTL,
    schema=[
        Field(name="merchant_category", dtype=String),
        Field(name="offer_type", dtype=String),
        Field(name="offer_value", dtype=Float32),
        Field(name="min_spend", dtype=Float32),
        Field(name="value_score", dtype=Float32),
        Field(name="eligible_card_products_count", dtype=Int64),
        Field(name="is_valid", dtype=Int32),
        Field(name="days_since_valid_from", dtype=Int64),
        Field(name="days_to_expiry", dtype=Int64),
        Field(name="impressions_count", dtype=Float64),
        Field(name="view_rate_smoothed", dtype=Float32),
        Field(name="click_rate_smoothed", dtype=Float32),
        Field(name="redemption_rate_smoothed", dtype=Float32),
    ],
    source=offer_stats_source,
    online=True,
    description="Offer attributes and smoothed historical view, click and redemption rates.",
    tags={"layer": "features"},
)


def catalogue_view(name: str, source: DataSource) -> FeatureView:
    """A data set's offer catalogue in one shape: what the ranking service reads (through
    Feast's offline store when it loads or reloads) to know which offers exist, when they are
    valid, who may get them and what explanations quote. Not model features."""
    return FeatureView(
        name=name,
        entities=[offer],
        # A row's time is when the offer became valid; a year covers any live catalogue.
        ttl=timedelta(days=365),
        schema=[
            Field(name="headline", dtype=String),
            Field(name="merchant_category", dtype=String),
            Field(name="offer_type", dtype=String),
            Field(name="offer_value", dtype=Float64),
            Field(name="min_spend", dtype=Float64),
            Field(name="duration_days", dtype=Float64),
            Field(name="valid_from", dtype=UnixTimestamp),
            Field(name="valid_to", dtype=UnixTimestamp),
            Field(name="eligible_card_products", dtype=String),
        ],
        source=source,
        online=True,
        description="The offer catalogue: terms, validity window and eligible card products.",
        tags={"layer": "serving"},
    )


offer_catalog = catalogue_view("offer_catalog", offer_catalog_source)

# What a customer said in the quiz, pushed as they answer: the next ranking's stated favourite
# (on-demand `quiz_matches_category`) and cold start for customers the ranking knows nothing else
# about yet. A plain view over the push source, so materialization and training read the mart.
# `stated_*`, not `quiz_*`: customer_profile's quiz fields are the answer as of its snapshot.
customer_quiz = FeatureView(
    name="customer_quiz",
    entities=[customer],
    ttl=timedelta(days=400),  # a monthly quiz: last year's answer still says something
    schema=[
        Field(name="stated_favourite_category", dtype=String, tags=STATED),
        Field(name="stated_prefers_rewards", dtype=Int32, tags=STATED),
        Field(name="stated_planning_travel", dtype=Int32, tags=STATED),
    ],
    source=customer_quiz_push_source,
    online=True,
    description="Each customer's latest quiz answer, live (pushed) or from the mart.",
    tags={"layer": "serving", "contains_sensitive": "true"},
)

# Streak and badges, pushed by the stream processor as it counts each redemption, rating, click
# and quiz answer; the on-demand `engagement_signals` turns them into what the model reads at
# the request's time (a streak is alive only up to the week after its last week).
customer_engagement = FeatureView(
    name="customer_engagement",
    entities=[customer],
    ttl=timedelta(days=400),  # a customer back after months still has their badges
    schema=[
        Field(name="engagement_last_week", dtype=Int64),
        Field(name="engagement_streak_run", dtype=Int64),
        Field(name="engagement_badge_count", dtype=Int64),
    ],
    source=customer_engagement_push_source,
    online=True,
    description="Each customer's last qualifying week, the run of weeks ending there and their "
    "badge count, live (pushed) or from the mart.",
    tags={"layer": "serving"},
)

# What each customer consented to, purpose by purpose (smartstack.privacy.purposes): 1 given,
# 0 refused, no value never recorded. Registered for every data set beside the feature service
# (smartstack.featurestore.store), and in no feature service: it decides what may be done with
# a customer, it is not something a model learns from. A consent stays until it is changed,
# hence the long TTL.
customer_consent = FeatureView(
    name="customer_consent",
    entities=[customer],
    ttl=timedelta(days=3650),
    schema=[
        Field(name="consent_personalization", dtype=Int32),
        Field(name="consent_llm_messaging", dtype=Int32),
        Field(name="consent_analytics", dtype=Int32),
    ],
    source=customer_consent_push_source,
    online=True,
    description="Each customer's consent by purpose, live (pushed) or from the mart.",
    tags={"layer": "privacy"},
)

# Fresh behaviour: the stream processor pushes recent spend per category within seconds.
customer_recent_spend = StreamFeatureView(
    name="customer_recent_spend",
    entities=[customer],
    ttl=timedelta(days=7),
    schema=[Field(name=f"recent_spend_{c}", dtype=Float64) for c in MERCHANT_CATEGORIES],
    source=customer_recent_spend_push_source,
    online=True,
    offline=False,
    timestamp_field="event_timestamp",
    description="Spend per category over the last 7 days, updated by streaming transactions.",
    tags={"layer": "streaming"},
)


# -- the Starbucks data set (feature service offer_completion_starbucks_v1) ----------------------
# Daily as-of rows, so two days of TTL always find the row of the day (or the day before).
STARBUCKS_TTL = timedelta(days=2)
STARBUCKS_SPEND_WINDOWS = (3, 7, 14, 30)
OFFER_STEPS = ("received", "viewed", "completed", "succeeded")

starbucks_customer_demographics = FeatureView(
    name="starbucks_customer_demographics",
    entities=[customer],
    ttl=STARBUCKS_TTL,
    schema=[
        Field(name="age", dtype=Int32, tags={"sensitive": "quasi_identifier"}),
        Field(name="income", dtype=Float64, tags={"sensitive": "quasi_identifier"}),
        Field(name="gender_female", dtype=Int32, tags={"sensitive": "quasi_identifier"}),
        Field(name="gender_male", dtype=Int32, tags={"sensitive": "quasi_identifier"}),
        Field(name="gender_other", dtype=Int32, tags={"sensitive": "quasi_identifier"}),
        Field(name="profile_incomplete", dtype=Int32),
        Field(name="membership_days", dtype=Int64),
        Field(name="member_since_year", dtype=Int32),
    ],
    source=starbucks_demographics_source,
    online=True,
    description="Stated age, income and gender of a Starbucks rewards member, and how long they "
    "have been one. The demographic-only baseline reads exactly these.",
    tags={"layer": "features", "dataset": "starbucks", "contains_sensitive": "true"},
)

starbucks_customer_activity = FeatureView(
    name="starbucks_customer_activity",
    entities=[customer],
    ttl=STARBUCKS_TTL,
    schema=[
        Field(name="history_days", dtype=Int32),
        Field(name="txn_count_all", dtype=Int64),
        Field(name="spend_all", dtype=Float64),
        *(
            Field(name=f"{measure}_{window}d", dtype=dtype)
            for window in STARBUCKS_SPEND_WINDOWS
            for measure, dtype in (("txn_count", Int64), ("spend", Float64))
        ),
        *(
            Field(name=name, dtype=Float64)
            for name in ("avg_ticket", "ticket_median", "ticket_p75", "ticket_max")
        ),
        Field(name="hours_since_last_txn", dtype=Int64),
        Field(name="active_days", dtype=Int64),
        Field(name="spend_per_day", dtype=Float64),
        Field(name="txn_per_day", dtype=Float64),
    ],
    source=starbucks_activity_source,
    online=True,
    description="Purchases before each day: counts, spend, ticket sizes, recency.",
    tags={"layer": "features", "dataset": "starbucks"},
)

starbucks_customer_offer_history = FeatureView(
    name="starbucks_customer_offer_history",
    entities=[customer],
    ttl=STARBUCKS_TTL,
    schema=[
        *(
            Field(name=f"offers_{step}", dtype=Int64)
            for step in (*OFFER_STEPS, "completed_unviewed")
        ),
        *(
            Field(name=f"{step}_{offer_type}", dtype=Int64)
            for offer_type in STARBUCKS_OFFER_TYPES
            for step in OFFER_STEPS
        ),
        Field(name="received_social", dtype=Int64),
        Field(name="viewed_social", dtype=Int64),
        Field(name="open_offers", dtype=Int64),
        *(
            Field(name=name, dtype=Float64)
            for name in (
                "view_rate",
                "social_view_rate",
                "completion_rate",
                "success_rate",
                "bogo_success_share",
                "mean_hours_to_view",
            )
        ),
        Field(name="hours_since_last_offer", dtype=Int64),
    ],
    source=starbucks_offer_history_source,
    online=True,
    description="Offers received, viewed, completed and succeeded before each day, overall and "
    "per offer type, and offers still open.",
    tags={"layer": "features", "dataset": "starbucks"},
)

starbucks_offer_catalog = catalogue_view("starbucks_offer_catalog", starbucks_offer_catalog_source)

starbucks_offer_stats = FeatureView(
    name="starbucks_offer_stats",
    entities=[offer],
    ttl=STARBUCKS_TTL,
    schema=[
        Field(name="offer_type", dtype=String),
        *(Field(name=f"is_{offer_type}", dtype=Int32) for offer_type in STARBUCKS_OFFER_TYPES),
        Field(name="min_spend", dtype=Float64),
        Field(name="reward", dtype=Float64),
        Field(name="duration_days", dtype=Float64),
        *(Field(name=f"sent_by_{channel}", dtype=Int32) for channel in STARBUCKS_CHANNELS),
        Field(name="channel_count", dtype=Int32),
        Field(name="value_score", dtype=Float64),
        Field(name="received_count", dtype=Int64),
        *(
            Field(name=f"{rate}_rate_smoothed", dtype=Float64)
            for rate in ("view", "completion", "success")
        ),
    ],
    source=starbucks_offer_source,
    online=True,
    description="Offer terms, channels, value score and smoothed response rates so far.",
    tags={"layer": "features", "dataset": "starbucks"},
)
