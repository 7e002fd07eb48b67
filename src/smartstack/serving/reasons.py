"""Reason codes: the features that raised each ranked offer's score most.

Computed from the leaves each offer reached in the model's trees (Saabas path attributions,
:meth:`smartstack.serving.model.LoadedModel.contributions`), only for the offers shown, and
only where a model scored them: the rules and the non-personal tiers give none.
"""

from __future__ import annotations

import re

import numpy as np

from smartstack.datasets.vocabulary import Vocabulary
from smartstack.serving.model import LoadedModel
from smartstack.serving.schemas import Reason
from smartstack.serving.treepaths import Leaves

# The platform's own features that no data set's vocabulary describes (they are not facts an
# explanation may cite, but they are reasons): the on-demand offer context above all, which
# relates the offer to the customer and is most often the strongest reason.
PLATFORM_LABELS = {
    "offer_category_share_30d": "your share of spending in this category (30 days)",
    "offer_category_share_90d": "your share of spending in this category (90 days)",
    "offer_category_spend_30d": "your spending in this category (30 days)",
    "offer_category_txn_count_90d": "your purchases in this category (90 days)",
    "offer_category_trend": "your spending trend in this category",
    "offer_category_recent_spend": "your spending in this category this week",
    "offer_category_avg_ticket": "your usual purchase in this category",
    "min_spend_to_ticket": "the minimum spend against your usual purchase",
    "type_fit": "how you like this kind of offer",
    "quiz_matches_category": "your quiz answer names this category",
    "offer_value": "the offer's value",
    "value_score": "the offer's value",
    "min_spend": "the minimum spend",
    "days_to_expiry": "days left to use it",
    "redemption_rate_smoothed": "how often others redeem it",
    "click_rate_smoothed": "how often others open it",
    "view_rate_smoothed": "how often others look at it",
    "offer_click_rate_90d": "how often you open offers",
    "redemptions_90d": "offers you redeemed (90 days)",
    "card_tier": "your card",
    "has_quiz": "your quiz answers",
    "quiz_planning_travel": "your travel plans (quiz)",
}
_WINDOW = re.compile(r"^(?P<name>.+)_(?P<days>\d+)d$")
_WORDS = {"txn": "purchases", "avg": "average", "smoothed": ""}


class ReasonLabels:
    """Feature names in words a customer reads: the data set's vocabulary where it describes
    the feature, the platform's own labels, else the name spelled out with its window.
    Worked out once per feature name."""

    def __init__(self, vocabulary: Vocabulary | None = None) -> None:
        self._vocabulary = vocabulary
        self._labels: dict[str, str] = {}

    def __call__(self, feature: str) -> str:
        label = self._labels.get(feature)
        if label is None:
            described = self._vocabulary.describe(feature) if self._vocabulary else None
            label = described or PLATFORM_LABELS.get(feature) or _spelled_out(feature)
            self._labels[feature] = label
        return label


def _spelled_out(feature: str) -> str:
    """``txn_count_7d`` → 'purchases count (7 days)'."""
    window = _WINDOW.match(feature)
    name, days = (window["name"], window["days"]) if window else (feature, None)
    words = " ".join(w for w in (_WORDS.get(part, part) for part in name.split("_")) if w)
    return f"{words} ({days} days)" if days else words


def reason_codes(
    model: LoadedModel,
    matrix: np.ndarray,
    leaves: Leaves,
    n: int,
    per_offer: int,
    label: ReasonLabels,
) -> list[list[Reason]]:
    """The ``per_offer`` strongest features of each of the first ``n`` rows of ``matrix``."""
    if n == 0 or per_offer == 0:
        return [[] for _ in range(n)]
    contributions = model.contributions(leaves.take(slice(0, n)))[:, :-1]  # last: bias
    strongest = np.argsort(-contributions, axis=1)[:, :per_offer]
    # Gathered as arrays and converted once: per-element NumPy scalars cost more than the rest.
    shares = np.take_along_axis(contributions, strongest, axis=1).tolist()
    values = np.take_along_axis(matrix[:n], model.columns[strongest], axis=1)
    seen = np.where(np.isnan(values), None, values).tolist()
    names = model.feature_names
    # Built without validation: every field comes from the model's own arrays and names.
    return [
        [
            Reason.model_construct(feature=names[j], label=label(names[j]), contribution=c, value=v)
            for j, c, v in zip(best, row_shares, row_values, strict=True)
        ]
        for best, row_shares, row_values in zip(strongest.tolist(), shares, seen, strict=True)
    ]
