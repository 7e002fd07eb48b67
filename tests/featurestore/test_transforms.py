"""The on-demand feature logic on hand-made columns: no store, no data set."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from smartstack.engagement.state import week_number
from smartstack.featurestore.transforms import engagement_signals, offer_context

CATEGORIES = ["dining", "travel", "gas"]


def _inputs(stated: Any, profile: Any) -> defaultdict[str, list[Any]]:
    """Three offers (one per category) for a customer with these two quiz answers; every other
    input is missing, as for a customer without history."""
    n = len(CATEGORIES)
    columns: dict[str, list[Any]] = {
        "merchant_category": CATEGORIES,
        "offer_type": ["points"] * n,
        "stated_favourite_category": [stated] * n,
        "quiz_favourite_category": [profile] * n,
        "request_timestamp": [datetime(2026, 6, 30, 9, tzinfo=UTC)] * n,
    }
    return defaultdict(lambda: [None] * n, columns)


@pytest.mark.parametrize(
    ("stated", "profile", "matches"),
    [
        ("travel", "dining", [0, 1, 0]),  # the live answer wins over the profile's snapshot
        (None, "dining", [1, 0, 0]),  # no live answer (online): the profile's
        (np.nan, "dining", [1, 0, 0]),  # no live answer (a training frame): the profile's
        ("gas", None, [0, 0, 1]),  # a live answer and no profile
        (None, None, [0, 0, 0]),
    ],
)
def test_the_stated_favourite_is_the_live_answer_when_there_is_one(
    stated: Any, profile: Any, matches: list[int]
) -> None:
    result = offer_context(_inputs(stated, profile))
    assert result["quiz_matches_category"].tolist() == matches


# Week numbers of smartstack.engagement.state (UTC): 2020-W53 is 105398, 2021-W01 105399.
W53, W01 = 105398, 105399


@pytest.mark.parametrize(
    ("request_time", "last_week", "run", "badges", "expected"),
    [
        # The streak counts while its last week is this week or last week (still open)...
        (datetime(2021, 1, 3, 23, tzinfo=UTC), W53, 3, 2, (3, 0.0, 2)),
        (datetime(2021, 1, 4, 0, tzinfo=UTC), W53, 3, 2, (3, 1.0, 2)),
        # ...and is broken once a whole week passed without one; the badges stay.
        (datetime(2021, 1, 11, 0, tzinfo=UTC), W53, 3, 2, (0, 2.0, 2)),
        # A naive time is UTC; Monday 00:30 in Paris is still Sunday in UTC.
        (datetime(2021, 1, 11, 0, 30), W01, 1, 1, (1, 1.0, 1)),
        (
            datetime(2021, 1, 11, 0, 30, tzinfo=ZoneInfo("Europe/Paris")),
            W01,
            1,
            1,
            (1, 0.0, 1),
        ),
        # Never engaged: no streak, no weeks since (missing, not "long ago"), no badges; None
        # online, NaN in a training frame.
        (datetime(2021, 1, 4, tzinfo=UTC), None, None, None, (0, None, 0)),
        (datetime(2021, 1, 4, tzinfo=UTC), np.nan, np.nan, np.nan, (0, None, 0)),
        # A customer with badges but no qualifying week (only the quiz, say).
        (datetime(2021, 1, 4, tzinfo=UTC), None, 0, 1, (0, None, 1)),
        # Values of an Int64 column that pandas turned to floats.
        (datetime(2021, 1, 4, tzinfo=UTC), float(W01), 5.0, 3.0, (5, 0.0, 3)),
    ],
)
def test_engagement_signals_at_the_requests_week(
    request_time: datetime, last_week: Any, run: Any, badges: Any, expected: tuple
) -> None:
    result = engagement_signals(
        {
            "request_timestamp": [request_time],
            "engagement_last_week": [last_week],
            "engagement_streak_run": [run],
            "engagement_badge_count": [badges],
        }
    )
    streak, since, count = expected
    assert result["streak_weeks"].tolist() == [streak]
    assert result["badge_count"].tolist() == [count]
    if since is None:
        assert np.isnan(result["weeks_since_engagement"][0])
    else:
        assert result["weeks_since_engagement"].tolist() == [since]
    assert result["streak_weeks"].dtype == result["badge_count"].dtype == np.int64


def test_the_requests_week_is_numbered_as_the_engagement_store_numbers_it() -> None:
    """Day by day across two new years: into 2021 after the 53 weeks of 2020, and into 2022."""
    moments = [datetime(2020, 12, 27, 12, tzinfo=UTC) + timedelta(days=d) for d in range(0, 400)]
    result = engagement_signals(
        {
            "request_timestamp": moments,
            "engagement_last_week": [week_number(m, "UTC") for m in moments],
            "engagement_streak_run": [1] * len(moments),
            "engagement_badge_count": [0] * len(moments),
        }
    )
    assert result["weeks_since_engagement"].tolist() == [0.0] * len(moments)
    assert week_number(datetime(2021, 1, 1, tzinfo=UTC), "UTC") == W53
