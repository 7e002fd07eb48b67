"""The feature services: the only list of model features anywhere in the code.

Training asks for the active data set's service in ``get_historical_features`` and serving for
the same service in ``get_online_features``; the model's columns are this service's features in
order. ``offer_ranking_v1`` serves the synthetic data set, ``offer_completion_starbucks_v1``
the Starbucks one (``smartstack.datasets``; the ``feature_service`` setting overrides). A change
to a feature set is a new service version, never an edit: ``offer_ranking_v2`` is version 1 plus
the engagement signals (opt in with the ``feature_service`` setting).
"""

from feast import FeatureService
from feature_views import (
    customer_profile,
    customer_recent_spend,
    customer_spend,
    offer_stats,
    starbucks_customer_activity,
    starbucks_customer_demographics,
    starbucks_customer_offer_history,
    starbucks_offer_stats,
)
from on_demand_features import engagement_signals, offer_context, starbucks_offer_context

# Version 1's features, which version 2 extends: frozen, as every released version's are.
OFFER_RANKING_V1_FEATURES = [
    customer_spend,
    customer_profile[
        [
            "tenure_months",
            "is_new_customer",
            "offer_impressions_90d",
            "offers_clicked_90d",
            "redemptions_90d",
            "points_redemption_share",
            "points_click_share",
            "offer_click_rate_90d",
            "active_days_30d",
            "searches_30d",
            "promotion_selects_30d",
            "has_quiz",
            "quiz_prefers_rewards",
            "quiz_planning_travel",
            "days_since_quiz",
        ]
    ],
    offer_stats[
        [
            "offer_value",
            "min_spend",
            "value_score",
            "days_to_expiry",
            "impressions_count",
            "view_rate_smoothed",
            "click_rate_smoothed",
            "redemption_rate_smoothed",
        ]
    ],
    customer_recent_spend,
    offer_context,
]

offer_ranking_v1 = FeatureService(
    name="offer_ranking_v1",
    features=OFFER_RANKING_V1_FEATURES,
    description="Features of the XGBoost offer ranker, version 1: numeric only, so the model "
    "reads them as they come.",
    tags={"model": "offer-ranker"},
)

offer_ranking_v2 = FeatureService(
    name="offer_ranking_v2",
    features=[*OFFER_RANKING_V1_FEATURES, engagement_signals],
    description="Features of the XGBoost offer ranker, version 2: version 1 plus the customer's "
    "engagement (streak alive, weeks since the last qualifying week, badges).",
    tags={"model": "offer-ranker"},
)

offer_completion_starbucks_v1 = FeatureService(
    name="offer_completion_starbucks_v1",
    features=[
        starbucks_customer_demographics,
        starbucks_customer_activity,
        starbucks_customer_offer_history,
        starbucks_offer_stats[
            [
                "is_bogo",
                "is_discount",
                "is_informational",
                "min_spend",
                "reward",
                "duration_days",
                "sent_by_email",
                "sent_by_mobile",
                "sent_by_social",
                "sent_by_web",
                "channel_count",
                "value_score",
                "received_count",
                "view_rate_smoothed",
                "completion_rate_smoothed",
                "success_rate_smoothed",
            ]
        ],
        starbucks_offer_context,
    ],
    description="Features of the Starbucks offer-response model, version 1: demographics, "
    "offer terms and what the member did before the offer was sent; numeric only.",
    tags={"model": "offer-ranker", "dataset": "starbucks"},
)
