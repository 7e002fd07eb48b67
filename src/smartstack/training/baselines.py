"""Baselines scored on the same test rows as the model.

- **SmartScore**: the rule ranking serving falls back to (:mod:`smartstack.ranking.smartscore`),
  Platt-calibrated on the validation period so its log loss and ECE are comparable.
- **Popularity**: each offer's redemption rate over the train period, shrunk towards the
  overall rate (a prior worth ``popularity_prior_weight`` impressions); unseen offers get the
  overall rate. Already a probability.
- **Oracle**: the generator's hidden ``p_redeem`` (synthetic data only): the ceiling any model
  of these features can approach, never reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartstack.ranking.smartscore import smartscore
from smartstack.training.dataset import TrainingData
from smartstack.training.train import fit_platt


@dataclass(frozen=True)
class Scored:
    scores: np.ndarray
    probs: np.ndarray | None


def smartscore_calibration(data: TrainingData) -> tuple[float, float]:
    """Platt coefficients of the SmartScore rules for the data's target, on validation."""
    val_scores = smartscore(data.matrix("validation"), data.features)
    return fit_platt(val_scores, data.labels("validation"))


def smartscore_baseline(
    data: TrainingData, part: str = "test", calibration: tuple[float, float] | None = None
) -> Scored:
    a, b = calibration or smartscore_calibration(data)
    scores = smartscore(data.matrix(part), data.features)
    return Scored(scores, 1.0 / (1.0 + np.exp(-(a * scores + b))))


def popularity_rates(data: TrainingData, prior_weight: float) -> dict[str, float]:
    """Each offer's label rate over the train period, shrunk towards the overall rate; the
    overall rate itself under the key ``""`` (for unseen offers)."""
    label = data.target.label
    train = data.subset("train", ["offer_id", label])
    overall = float(train[label].mean())
    stats = train.groupby("offer_id")[label].agg(["sum", "count"])
    rate = (stats["sum"] + prior_weight * overall) / (stats["count"] + prior_weight)
    return {"": overall, **{str(k): float(v) for k, v in rate.items()}}


def popularity_baseline(
    data: TrainingData,
    prior_weight: float,
    part: str = "test",
    rates: dict[str, float] | None = None,
) -> Scored:
    rates = rates or popularity_rates(data, prior_weight)
    offers = data.column(part, "offer_id").astype(str)
    scores = offers.map(rates).fillna(rates[""]).to_numpy(dtype=float)
    return Scored(scores, scores)


def oracle_baseline(data: TrainingData, part: str = "test") -> Scored | None:
    if "p_redeem" not in data.frame:
        return None
    p = data.column(part, "p_redeem").to_numpy(dtype=float)
    return None if np.isnan(p).all() else Scored(p, p)


def all_baselines(data: TrainingData, prior_weight: float, part: str = "test") -> dict[str, Scored]:
    out = {
        "smartscore": smartscore_baseline(data, part),
        "popularity": popularity_baseline(data, prior_weight, part),
    }
    oracle = oracle_baseline(data, part)
    if oracle is not None:
        out["oracle"] = oracle
    return out
