"""The feature services: the only list of model features anywhere in the code.

Training asks for ``offer_ranking_v1`` in ``get_historical_features`` and serving for the same
service in ``get_online_features``; the model's columns are this service's features in order.
A change to the feature set is a new service version (``offer_ranking_v2``), never an edit.
"""

from feast import FeatureService
from feature_views import customer_profile, customer_recent_spend, customer_spend, offer_stats
from on_demand_features import offer_context

offer_ranking_v1 = FeatureService(
    name="offer_ranking_v1",
    features=[
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
    ],
    description="Features of the XGBoost offer ranker, version 1: numeric only, so the model "
    "reads them as they come.",
    tags={"model": "offer-ranker"},
)
