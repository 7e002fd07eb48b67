"""The on-demand feature logic on hand-made columns: no store, no data set."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from smartstack.featurestore.transforms import offer_context

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
