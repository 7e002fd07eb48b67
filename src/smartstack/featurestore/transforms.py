"""Request-time feature logic behind the ``offer_context`` and ``engagement_signals`` on-demand
feature views.

Feast stores an on-demand transformation as source text and runs it without its module's
globals, so the view's function only imports and calls this one. Keeping the logic here also
makes it testable and lets one definition serve online reads and training sets alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from smartstack.data.schema import CARD_PRODUCTS, MERCHANT_CATEGORIES
from smartstack.data.weeks import week_of

CARD_TIER = {product: tier for tier, product in enumerate(CARD_PRODUCTS)}
_CATEGORIES = frozenset(MERCHANT_CATEGORIES)


def _column(values: list[Any]) -> np.ndarray:
    """A list with possible Nones as floats with NaN (XGBoost's missing value)."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _per_offer_category(
    inputs: Mapping[str, list[Any]], prefix: str, suffix: str, category: list[Any]
) -> np.ndarray:
    """For each row, the customer's ``<prefix><offer category><suffix>`` value.

    One pass over the rows, reading each row's value from its own offer's category column: a
    ranking request has one customer's values repeated over ~30 offers, where per-category
    array operations cost more than the rows themselves.
    """
    columns = {
        name: inputs[f"{prefix}{name}{suffix}"] for name in set(category) if name in _CATEGORIES
    }
    return _column([columns[c][i] if c in columns else None for i, c in enumerate(category)])


def _stated_favourite(inputs: Mapping[str, list[Any]]) -> np.ndarray:
    """Each row's stated favourite category: the customer's latest quiz answer
    (``customer_quiz``, pushed as they answer) where there is one, else the profile's answer as
    of its snapshot. A missing answer is None online and NaN in a training frame."""
    live = inputs["stated_favourite_category"]
    profile = inputs["quiz_favourite_category"]
    return np.array(
        [now if isinstance(now, str) else then for now, then in zip(live, profile, strict=True)],
        dtype=object,
    )


def offer_context(inputs: Mapping[str, list[Any]]) -> dict[str, np.ndarray]:
    """Customer × offer affinity and request-time context, on column lists."""
    categories = list(inputs["merchant_category"])
    category = np.array(categories, dtype=object)
    offer_type = np.array(inputs["offer_type"], dtype=object)
    spend_90 = _per_offer_category(inputs, "spend_", "_90d", categories)
    count_90 = _per_offer_category(inputs, "txn_count_", "_90d", categories)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_ticket = np.where(count_90 > 0, spend_90 / count_90, np.nan)
        stretch = _column(inputs["min_spend"]) / avg_ticket
    points_share = _column(inputs["points_redemption_share"])
    is_points = offer_type == "points"
    favourite = _stated_favourite(inputs)
    stamps = inputs["request_timestamp"]
    return {
        "offer_category_share_30d": _per_offer_category(inputs, "share_", "_30d", categories),
        "offer_category_share_90d": _per_offer_category(inputs, "share_", "_90d", categories),
        "offer_category_spend_30d": _per_offer_category(inputs, "spend_", "_30d", categories),
        "offer_category_txn_count_90d": count_90,
        "offer_category_trend": _per_offer_category(inputs, "trend_", "", categories),
        "offer_category_recent_spend": _per_offer_category(inputs, "recent_spend_", "", categories),
        "offer_category_avg_ticket": avg_ticket,
        "min_spend_to_ticket": stretch,
        "offer_is_points": is_points.astype(np.int64),
        "offer_is_discount": (offer_type == "discount").astype(np.int64),
        "offer_is_cashback": (offer_type == "cashback").astype(np.int64),
        "type_fit": np.where(is_points, points_share, 1.0 - points_share),
        "quiz_matches_category": ((favourite == category) & (category != None)).astype(  # noqa: E711
            np.int64
        ),
        "card_tier": np.array([CARD_TIER.get(p, -1) for p in inputs["card_product"]]),
        "request_hour": np.array([s.hour if isinstance(s, datetime) else -1 for s in stamps]),
        "request_day_of_week": np.array(
            [s.weekday() if isinstance(s, datetime) else -1 for s in stamps]
        ),
    }


def _utc_week(moment: Any) -> int | None:
    """The UTC week of ``moment`` (:func:`~smartstack.data.weeks.week_of`); a naive time is
    UTC, no time (None) has no week."""
    if not isinstance(moment, datetime):
        return None
    return week_of((moment.astimezone(UTC) if moment.tzinfo else moment).date())


def _count(value: Any) -> int | None:
    """An Int64 feature value as an int: None online and NaN in a training frame are missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


def engagement_signals(inputs: Mapping[str, list[Any]]) -> dict[str, np.ndarray]:
    """The customer's engagement as the model sees it at the request's time.

    ``customer_engagement`` holds the run of weeks ending at the last qualifying week, which
    says nothing about whether the streak is still alive: as in the engagement store's
    ``current_streak``, it is while the last qualifying week is this week or last week (this
    one is still open), and 0 after. A customer never engaged has streak 0, no weeks since
    (NaN: XGBoost's missing value, not "long ago") and no badges.
    """
    streak, weeks_since, badges = [], [], []
    for moment, last, run, count in zip(
        inputs["request_timestamp"],
        inputs["engagement_last_week"],
        inputs["engagement_streak_run"],
        inputs["engagement_badge_count"],
        strict=True,
    ):
        this_week, last_week = _utc_week(moment), _count(last)
        known = this_week is not None and last_week is not None
        alive = known and last_week >= this_week - 1
        streak.append((_count(run) or 0) if alive else 0)
        weeks_since.append(max(0, this_week - last_week) if known else math.nan)
        badges.append(_count(count) or 0)
    return {
        "streak_weeks": np.array(streak, dtype=np.int64),
        "weeks_since_engagement": np.array(weeks_since, dtype=float),
        "badge_count": np.array(badges, dtype=np.int64),
    }
