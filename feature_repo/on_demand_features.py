"""Request-time features: what depends on the pair (customer, offer) or on the request itself.

The customer's spend per category and the offer's category live in different views; the model
needs them joined ("how much of this customer's wallet goes to *this offer's* category"), and
the quiz answer a customer just gave (``customer_quiz``, pushed) must move the next ranking. The
logic is :func:`smartstack.featurestore.transforms.offer_context`, in Python mode on column
lists with NumPy, so the same code serves 30 online rows and a training set of millions.
``engagement_signals`` does the same for the streak, which depends on the request's week.
"""

from typing import Any

from data_sources import ranking_request
from feast import Field
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64
from feature_views import (
    customer_engagement,
    customer_profile,
    customer_quiz,
    customer_recent_spend,
    customer_spend,
    offer_stats,
    starbucks_customer_activity,
    starbucks_customer_offer_history,
    starbucks_offer_stats,
)

OFFER_CONTEXT_SCHEMA = [
    *(
        Field(name=name, dtype=Float64)
        for name in (
            "offer_category_share_30d",
            "offer_category_share_90d",
            "offer_category_spend_30d",
            "offer_category_txn_count_90d",
            "offer_category_trend",
            "offer_category_recent_spend",
            "offer_category_avg_ticket",
            "min_spend_to_ticket",
            "type_fit",
        )
    ),
    *(
        Field(name=name, dtype=Int64)
        for name in (
            "offer_is_points",
            "offer_is_discount",
            "offer_is_cashback",
            "quiz_matches_category",
            "card_tier",
            "request_hour",
            "request_day_of_week",
        )
    ),
]


@on_demand_feature_view(
    sources=[
        customer_spend,
        customer_profile,
        customer_quiz,
        offer_stats,
        customer_recent_spend,
        ranking_request,
    ],
    schema=OFFER_CONTEXT_SCHEMA,
    mode="python",
    description="Customer x offer affinity and request-time context.",
)
def offer_context(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    from smartstack.featurestore.transforms import offer_context as transform

    return {name: values.tolist() for name, values in transform(inputs).items()}


@on_demand_feature_view(
    sources=[customer_engagement, ranking_request],
    schema=[
        Field(name="streak_weeks", dtype=Int64),
        Field(name="weeks_since_engagement", dtype=Float64),
        Field(name="badge_count", dtype=Int64),
    ],
    mode="python",
    description="The customer's engagement at the request's time: the streak still alive, "
    "weeks since the last qualifying week, badges.",
)
def engagement_signals(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    from smartstack.featurestore.transforms import engagement_signals as transform

    return {name: values.tolist() for name, values in transform(inputs).items()}


STARBUCKS_CONTEXT_SCHEMA = [
    Field(name=name, dtype=Float64)
    for name in (
        "received_this_type",
        "viewed_this_type",
        "completed_this_type",
        "succeeded_this_type",
        "this_type_view_rate",
        "this_type_success_rate",
        "min_spend_to_avg_ticket",
        "min_spend_to_median_ticket",
        "min_spend_to_max_ticket",
        "expected_spend_ratio",
        "recent_spend_ratio",
        "offer_category_share_30d",
        "type_fit",
    )
]


@on_demand_feature_view(
    sources=[starbucks_customer_activity, starbucks_customer_offer_history, starbucks_offer_stats],
    schema=STARBUCKS_CONTEXT_SCHEMA,
    mode="python",
    description="Starbucks member x offer: history with this offer type, minimum spend against "
    "the member's tickets and pace, and the SmartScore inputs.",
)
def starbucks_offer_context(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    from smartstack.featurestore.starbucks_context import offer_context as transform

    return {name: values.tolist() for name, values in transform(inputs).items()}
