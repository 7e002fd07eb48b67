"""Units: the ranking metrics on hand-checked cases, and the SmartScore rules."""

from __future__ import annotations

import numpy as np
import pytest

from smartstack.ranking.smartscore import REQUIRED, smartscore
from smartstack.training.metrics import (
    engagement_grade,
    expected_calibration_error,
    mean_average_precision,
    ndcg_at_k,
)


def test_ndcg_is_one_for_the_ideal_order_and_matches_a_hand_computation() -> None:
    groups = np.array([1, 1, 1, 2, 2, 2])
    rel = np.array([2, 0, 1, 0, 0, 1])
    assert ndcg_at_k(groups, rel, np.array([3, 1, 2, 9, 8, 7]) * 0 + rel, 3) == pytest.approx(1.0)
    # Group 1 ranked (0, 1, 2): DCG = 0 + 1/log2(3) + 3/log2(4); ideal = 3 + 1/log2(3).
    # Group 2 ranked (1, 0, 0): ideal, NDCG 1.
    scores = np.array([1, 3, 2, 3, 2, 1]) * np.array([1, 1, 1, -1, -1, -1])
    g1 = (1 / np.log2(3) + 3 / 2) / (3 + 1 / np.log2(3))
    got = ndcg_at_k(groups, rel, scores, 3)
    assert got == pytest.approx((g1 + 1.0) / 2)


def test_groups_without_any_relevant_row_are_left_out() -> None:
    groups = np.array([1, 1, 2, 2])
    rel = np.array([1, 0, 0, 0])
    assert ndcg_at_k(groups, rel, np.array([1.0, 0.0, 0.0, 1.0]), 3) == pytest.approx(1.0)


def test_map_and_ece_on_known_cases() -> None:
    groups = np.array([1, 1, 1])
    # Positives at ranks 2 and 3: AP = (1/2 + 2/3) / 2.
    assert mean_average_precision(
        groups, np.array([0, 1, 1]), np.array([3.0, 2.0, 1.0])
    ) == pytest.approx((0.5 + 2 / 3) / 2)
    y = np.array([0, 1] * 500)
    assert expected_calibration_error(y, np.full(1000, 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(1000, 0.9)) == pytest.approx(0.4)
    assert list(engagement_grade(np.array([0, 1, 2, 3]))) == [0, 0, 1, 2]


NAMES = [*REQUIRED, "quiz_matches_category", "quiz_prefers_rewards", "offer_is_points", "other"]


def _row(**values: float) -> list[float]:
    return [values.get(n, np.nan) for n in NAMES]


def test_smartscore_is_deterministic_and_nan_safe() -> None:
    matrix = np.array([_row(), _row(value_score=0.8), _row(offer_category_share_30d=0.3)])
    first = smartscore(matrix, NAMES)
    assert np.isfinite(first).all()
    assert np.array_equal(first, smartscore(matrix.copy(), NAMES))


def test_smartscore_follows_its_rules() -> None:
    base = dict(offer_category_share_30d=0.05, value_score=0.5, type_fit=0.5)
    score = lambda **c: smartscore(np.array([_row(**(base | c))]), NAMES)[0]  # noqa: E731
    assert score(offer_category_share_30d=0.2) > score()
    assert score(value_score=0.9) > score()
    assert score(type_fit=0.9) > score()
    assert score(quiz_matches_category=1) > score()
    # Without redemption history the quiz answer decides the reward-versus-discount fit.
    assert score(type_fit=np.nan, quiz_prefers_rewards=1, offer_is_points=1) > score(
        type_fit=np.nan, quiz_prefers_rewards=0, offer_is_points=1
    )
    # Columns are found by name, not position; unrelated columns are ignored.
    matrix = np.array([_row(**base, other=5.0)])
    order = np.arange(len(NAMES))[::-1]
    assert smartscore(matrix[:, order], [NAMES[i] for i in order])[0] == pytest.approx(score())


def test_smartscore_names_the_missing_feature() -> None:
    with pytest.raises(KeyError, match="value_score"):
        smartscore(np.zeros((1, 2)), ["offer_category_share_30d", "type_fit"])
