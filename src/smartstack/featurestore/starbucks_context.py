"""Request-time features of the Starbucks feature service (``starbucks_offer_context``).

What depends on the pair (member, offer): the member's history with offers of this offer's
type, how far the offer's minimum spend is from what the member usually spends, and the inputs
the SmartScore rules read (:mod:`smartstack.ranking.smartscore`), given their meaning on this
data set:

- ``offer_category_share_30d``: the share of the member's last-30-day spend in the offer's
  category. Every purchase and every offer here is Starbucks (``coffee_shops``), so it is 1 when
  the member bought anything in the 30 days and 0 otherwise (no wallet, no share).
- ``type_fit``: how well the offer type fits the member's past successes: the share of BOGO
  among them for a BOGO offer, one minus it for a discount, unknown without successes or for an
  informational offer (SmartScore then uses its neutral default).

Same code online (one member, N offers) and for training sets (column lists, NumPy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from smartstack.data.schema import STARBUCKS_OFFER_TYPES

PER_TYPE_STEPS = ("received", "viewed", "completed", "succeeded")


def _column(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def offer_context(inputs: dict[str, list[Any]]) -> dict[str, np.ndarray]:
    """Member × offer features on column lists (one entry per row)."""
    offer_type = np.array(inputs["offer_type"], dtype=object)
    per_type = {}
    for step in PER_TYPE_STEPS:
        picked = np.full(offer_type.size, np.nan)
        for name in STARBUCKS_OFFER_TYPES:
            rows = offer_type == name
            if rows.any():
                picked[rows] = _column(inputs[f"{step}_{name}"])[rows]
        per_type[step] = picked
    min_spend = _column(inputs["min_spend"])
    duration = _column(inputs["duration_days"])
    spend_30d = _column(inputs["spend_30d"])
    bogo_share = _column(inputs["bogo_success_share"])
    type_fit = np.where(
        offer_type == "bogo",
        bogo_share,
        np.where(offer_type == "discount", 1.0 - bogo_share, np.nan),
    )
    return {
        **{f"{step}_this_type": per_type[step] for step in PER_TYPE_STEPS},
        "this_type_view_rate": _ratio(per_type["viewed"], per_type["received"]),
        "this_type_success_rate": _ratio(per_type["succeeded"], per_type["received"]),
        "min_spend_to_avg_ticket": _ratio(min_spend, _column(inputs["avg_ticket"])),
        "min_spend_to_median_ticket": _ratio(min_spend, _column(inputs["ticket_median"])),
        "min_spend_to_max_ticket": _ratio(min_spend, _column(inputs["ticket_max"])),
        # Spend expected over the offer's window at the member's pace, per dollar required.
        "expected_spend_ratio": _ratio(_column(inputs["spend_per_day"]) * duration, min_spend),
        "recent_spend_ratio": _ratio(_column(inputs["spend_7d"]) / 7.0 * duration, min_spend),
        "offer_category_share_30d": np.where(np.isnan(spend_30d), np.nan, spend_30d > 0).astype(
            float
        ),
        "type_fit": type_fit.astype(float),
    }
