"""Raw-table contracts shared by the generator, the ingestion adapters, dbt sources and tests.

Every raw table is a directory of Parquet part files (``<raw_dir>/<table>/part-*.parquet``) so
that generation can stream in bounded memory and DuckDB/BigQuery can read it with one glob.
Ground-truth tables live apart (``<out>/ground_truth``): they are for oracle evaluation only and
must never be read as features.
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")

MERCHANT_CATEGORIES: tuple[str, ...] = (
    "dining",
    "coffee_shops",
    "travel",
    "groceries",
    "gas",
    "streaming",
    "online_retail",
    "entertainment",
    "drugstores",
    "transit",
)
CARD_PRODUCTS: tuple[str, ...] = ("Blue Cash", "Green", "Gold", "Platinum")
OFFER_TYPES: tuple[str, ...] = ("points", "discount", "cashback")
AGE_BANDS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
REGIONS: tuple[str, ...] = ("Northeast", "Southeast", "Midwest", "Southwest", "West")
TRANSACTION_CHANNELS: tuple[str, ...] = ("in_store", "online", "contactless")
IMPRESSION_CHANNELS: tuple[str, ...] = ("app", "web", "email")
OUTCOMES: tuple[str, ...] = ("shown", "viewed", "clicked", "redeemed")
CLICKSTREAM_EVENTS: tuple[str, ...] = (
    "page_view",
    "view_search_results",
    "view_promotion",
    "select_promotion",
)
DEVICE_CATEGORIES: tuple[str, ...] = ("mobile", "desktop", "tablet")
REWARD_PREFERENCES: tuple[str, ...] = ("rewards", "discounts")
# The public Starbucks rewards-offer data set (smartstack.datasets.starbucks): its offer types,
# the channels an offer is sent through, and the stated genders of its profiles.
STARBUCKS_OFFER_TYPES: tuple[str, ...] = ("bogo", "discount", "informational")
STARBUCKS_CHANNELS: tuple[str, ...] = ("email", "mobile", "social", "web")
GENDERS: tuple[str, ...] = ("F", "M", "O")

RAW_SCHEMAS: dict[str, pa.Schema] = {
    "customers": pa.schema(
        [
            ("customer_id", pa.string()),
            ("card_product", pa.string()),
            ("age_band", pa.string()),
            ("region", pa.string()),
            ("signup_date", pa.date32()),
            ("tenure_months", pa.int32()),
            ("marketing_consent", pa.bool_()),
            # Consent by purpose (smartstack.privacy.purposes.CONSENT_COLUMNS), as the bank
            # recorded it; null where it was never asked (the privacy setting
            # `unrecorded_consent` decides). Live changes arrive as consent events.
            ("consent_personalization", pa.bool_()),
            ("consent_llm_messaging", pa.bool_()),
            ("consent_analytics", pa.bool_()),
            # Stated demographics of data sets that have them (Starbucks); null otherwise.
            ("gender", pa.string()),
            ("age", pa.int32()),
            ("income", pa.float64()),
        ]
    ),
    # Direct identifiers live only here, joined by customer_id, so every other table is
    # pseudonymous and the privacy layer has exactly one table to redact.
    "customer_pii": pa.schema(
        [
            ("customer_id", pa.string()),
            ("full_name", pa.string()),
            ("email", pa.string()),
            ("phone", pa.string()),
            ("card_number", pa.string()),
            ("street_address", pa.string()),
            ("city", pa.string()),
            ("postal_code", pa.string()),
        ]
    ),
    "transactions": pa.schema(
        [
            ("transaction_id", pa.int64()),
            ("customer_id", pa.string()),
            ("event_timestamp", TIMESTAMP),
            ("merchant_name", pa.string()),
            ("merchant_category", pa.string()),
            ("amount", pa.float64()),
            ("currency", pa.string()),
            ("channel", pa.string()),
        ]
    ),
    "offers": pa.schema(
        [
            ("offer_id", pa.string()),
            ("headline", pa.string()),
            ("merchant_category", pa.string()),
            ("offer_type", pa.string()),
            ("value", pa.float64()),
            ("min_spend", pa.float64()),
            ("valid_from", TIMESTAMP),
            ("valid_to", TIMESTAMP),
            ("eligible_card_products", pa.string()),
            # Offers whose window starts when each customer receives them (Starbucks): its
            # length and the channels it is sent through; null for catalogue-window offers.
            ("duration_days", pa.float64()),
            ("channels", pa.string()),
        ]
    ),
    "impressions": pa.schema(
        [
            ("impression_id", pa.int64()),
            ("request_id", pa.int64()),
            ("customer_id", pa.string()),
            ("offer_id", pa.string()),
            ("channel", pa.string()),
            ("position", pa.int32()),
            ("shown_at", TIMESTAMP),
            ("viewed_at", TIMESTAMP),
            ("clicked_at", TIMESTAMP),
            ("redeemed_at", TIMESTAMP),
            ("outcome", pa.string()),
            # When the offer's terms were met, whether or not the customer had seen it (a
            # redemption counts only after a view), and when this impression's own window
            # closes. Null where the source does not record them (the synthetic generator).
            ("completed_at", TIMESTAMP),
            ("expires_at", TIMESTAMP),
        ]
    ),
    # Google-Analytics-4-like event export: one row per event, promotion events carry the offer.
    "clickstream": pa.schema(
        [
            ("event_id", pa.int64()),
            ("customer_id", pa.string()),
            ("session_id", pa.int64()),
            ("event_timestamp", TIMESTAMP),
            ("event_name", pa.string()),
            ("page_location", pa.string()),
            ("offer_id", pa.string()),
            ("search_term", pa.string()),
            ("device_category", pa.string()),
        ]
    ),
    "quiz_responses": pa.schema(
        [
            ("response_id", pa.int64()),
            ("customer_id", pa.string()),
            ("answered_at", TIMESTAMP),
            ("favourite_category", pa.string()),
            ("reward_preference", pa.string()),
            ("planning_travel", pa.bool_()),
        ]
    ),
}

# Hidden truth behind the data. Read only by oracle evaluation and by tests.
GROUND_TRUTH_SCHEMAS: dict[str, pa.Schema] = {
    "customer_truth": pa.schema(
        [
            ("customer_id", pa.string()),
            ("archetype", pa.string()),
            ("activity_per_day", pa.float64()),
            ("reward_affinity", pa.float64()),
            # Spend level against a Green card holder's typical ticket (scales the spend stretch)
            ("spend_mult", pa.float64()),
            ("is_drifting", pa.bool_()),
            ("drift_at", TIMESTAMP),
        ]
        + [(f"pref_{c}", pa.float64()) for c in MERCHANT_CATEGORIES]
        + [(f"pref_after_drift_{c}", pa.float64()) for c in MERCHANT_CATEGORIES]
    ),
    "impression_truth": pa.schema(
        [
            ("impression_id", pa.int64()),
            ("true_utility", pa.float64()),
            ("p_click", pa.float64()),
            ("p_redeem", pa.float64()),
        ]
    ),
}

RAW_TABLES: tuple[str, ...] = tuple(RAW_SCHEMAS)
GROUND_TRUTH_TABLES: tuple[str, ...] = tuple(GROUND_TRUTH_SCHEMAS)
