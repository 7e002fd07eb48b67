"""SmartScore: the deterministic rule ranking, used when the model is unavailable.

Serving falls back to these scores when the model cannot be loaded or times out, and training
reports every model's lift over them, so the two call this one function on the same matrix: the
feature service's columns, in its order (:class:`smartstack.featurestore.online.OnlineFeatures`
or the training set). Three rules a product owner can read, plus a tie-breaker:

1. **Category share** (weight 0.50): the share of the customer's last-30-day spend that falls in
   the offer's merchant category, saturating at 25% (90-day share when 30 days are missing).
2. **Offer value** (0.25): the offer's ``value_score`` in [0, 1].
3. **Reward-versus-discount focus** (0.25): how well the offer type fits the customer's habit of
   redeeming points rather than discounts (``type_fit``); without redemption history, the quiz
   answer "prefers rewards", else neutral (0.5).
4. **Stated preference** (+0.10): the offer's category is the customer's quiz favourite.

Missing inputs (NaN) never propagate: each rule has a neutral default, so every offer gets a
finite score. The function is pure and deterministic: same matrix, same scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

VERSION = "smartscore-1"
WEIGHTS = {"category_share": 0.50, "offer_value": 0.25, "type_focus": 0.25, "stated": 0.10}
SHARE_SATURATION = 0.25

# The feature-service columns the rules read, and those they can fall back to.
REQUIRED = ("offer_category_share_30d", "value_score", "type_fit")
OPTIONAL = (
    "offer_category_share_90d",
    "quiz_matches_category",
    "quiz_prefers_rewards",
    "offer_is_points",
)


def _col(matrix: np.ndarray, index: dict[str, int], name: str) -> np.ndarray:
    if name not in index:
        return np.full(matrix.shape[0], np.nan)
    return matrix[:, index[name]].astype(float)


def smartscore(matrix: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """One score per row of ``matrix`` (rows = offers, columns = ``names``); higher is better."""
    matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
    index = {name: i for i, name in enumerate(names)}
    missing = [name for name in REQUIRED if name not in index]
    if missing:
        raise KeyError(f"SmartScore needs the feature(s) {missing}, absent from the matrix")

    share = _col(matrix, index, "offer_category_share_30d")
    share = np.where(np.isnan(share), _col(matrix, index, "offer_category_share_90d"), share)
    share = np.clip(np.nan_to_num(share, nan=0.0) / SHARE_SATURATION, 0.0, 1.0)

    value = np.clip(np.nan_to_num(_col(matrix, index, "value_score"), nan=0.5), 0.0, 1.0)

    focus = _col(matrix, index, "type_fit")
    prefers_rewards = _col(matrix, index, "quiz_prefers_rewards")
    is_points = _col(matrix, index, "offer_is_points")
    stated_fit = np.where(is_points == 1, prefers_rewards, 1.0 - prefers_rewards)
    focus = np.where(np.isnan(focus), stated_fit, focus)
    focus = np.clip(np.nan_to_num(focus, nan=0.5), 0.0, 1.0)

    stated = np.nan_to_num(_col(matrix, index, "quiz_matches_category"), nan=0.0) > 0

    return (
        WEIGHTS["category_share"] * share
        + WEIGHTS["offer_value"] * value
        + WEIGHTS["type_focus"] * focus
        + WEIGHTS["stated"] * stated
    )
