"""Scoring any ranker on the held-out test period, overall and per segment.

Everything that is compared (the candidate, the champion reloaded from the registry, the
baselines) goes through :func:`evaluate_scores` on the same rows, so figures are comparable.
Results are nested dicts ``{segment: {metric: value}}``; :func:`flatten` turns them into MLflow
metric keys such as ``test.ndcg_3`` and ``test.card_product.gold.ndcg_3``.
"""

from __future__ import annotations

import re

import numpy as np
import xgboost as xgb

from smartstack.training.baselines import Scored
from smartstack.training.dataset import TrainingData
from smartstack.training.metrics import segment_metrics
from smartstack.training.train import calibrated, score_margin

Report = dict[str, dict[str, float]]


def evaluate_scores(data: TrainingData, scored: Scored, part: str = "test") -> Report:
    """Every metric of one ranker on ``part``: overall, per segment and per named subset, for
    the data's target (its label, NDCG gain and ranking groups)."""
    return segment_metrics(
        data.subset(part, [data.group, "relevance"]),
        data.segments(part),
        scored.scores,
        scored.probs,
        labels=data.labels(part),
        grades=data.grades(part),
        group=data.group,
        subsets=data.subset_masks(part),
    )


def score_booster(booster: xgb.Booster, data: TrainingData, part: str = "test") -> Scored:
    """Score a booster with *its own* feature list (it may predate the current service)."""
    features = list(booster.feature_names or data.features)
    margin = score_margin(booster, data.matrix(part, features))
    return Scored(margin, calibrated(booster, margin))


def evaluate_booster(booster: xgb.Booster, data: TrainingData, part: str = "test") -> Report:
    return evaluate_scores(data, score_booster(booster, data, part), part)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def segment_key(segment: str) -> str:
    """``card_product=Blue Cash`` → ``card_product.blue_cash``; ``all`` and named subsets
    (``observed``) stay as they are."""
    if "=" not in segment:
        return segment
    column, value = segment.split("=", 1)
    return f"{column}.{slug(value)}"


def flatten(report: Report, prefix: str) -> dict[str, float]:
    """MLflow metric keys; NaN values (a segment without positives) are dropped."""
    out: dict[str, float] = {}
    for segment, metrics in report.items():
        middle = "" if segment == "all" else f".{segment_key(segment)}"
        for name, value in metrics.items():
            if value is not None and np.isfinite(value):
                out[f"{prefix}{middle}.{name}"] = float(value)
    return out


def lift(model: Report, baseline: Report, metrics: tuple[str, ...] = ("ndcg_3", "ndcg_5", "map")):
    """Absolute and relative lift of the model over a baseline, overall."""
    out: dict[str, float] = {}
    for name in metrics:
        m, b = model["all"][name], baseline["all"][name]
        out[f"{name}.abs"] = m - b
        out[f"{name}.rel"] = m / b - 1.0 if b else float("nan")
    return out
