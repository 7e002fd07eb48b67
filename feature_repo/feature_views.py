"""Feature views over the dbt marts, and the stream view fed by the push source.

Views are named ``<entity>_<topic>``. TTLs are twice the dbt snapshot interval (7 days), so a
training row always finds the latest snapshot before it and a stale online value expires.
Fields that describe a person indirectly carry ``sensitive`` tags.
"""

from datetime import timedelta

from data_sources import (
    customer_profile_source,
    customer_recent_spend_push_source,
    customer_spend_source,
    offer_stats_source,
)
from entities import customer, offer
from feast import FeatureView, Field
from feast.stream_feature_view import StreamFeatureView
from feast.types import Float32, Float64, Int32, Int64, String

from smartstack.data.schema import MERCHANT_CATEGORIES

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
