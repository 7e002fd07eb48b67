"""Offline ranking and probability metrics, computed per ranking request.

The unit of ranking is a request: one customer saw six offers at once. Ranking metrics are
therefore averaged over requests, not rows:

- **NDCG@k** (``ndcg_3``, ``ndcg_5``, the primary metrics) uses the *engagement grade*
  ``max(relevance - 1, 0)``: 0 shown or only viewed, 1 clicked, 2 redeemed, with gain
  ``2**grade - 1``. A view is an exposure event: it happens before the customer has read the
  offer and depends on the channel and slot, not on the offer, so counting it as relevance adds
  noise that no ranking can remove. NDCG on the mart's full ``relevance`` (0..3, views = 1) is
  reported beside it as ``ndcg_3_rel``/``ndcg_5_rel``. Requests whose offers all have grade 0
  carry no ranking signal and are left out (XGBoost's ``ndcg@k-`` convention).
- **MAP** uses the binary label ``redeemed`` (the business outcome), averaged over requests with
  at least one redemption.
- **AUC**, **log loss** and **ECE** score the calibrated probability of ``redeemed`` per row;
  **accuracy** and **F1** its decision at 0.5.

Another data set's target replaces ``redeemed`` by its own label and may grade NDCG by the
label itself, over its own ranking groups (each customer's offers for Starbucks; see
:class:`smartstack.datasets.adapter.Target`).

Everything is vectorized NumPy, so the same code scores 30 test rows and 2 million.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

NDCG_CUTOFFS = (3, 5)
ECE_BINS = 10


@dataclass(frozen=True)
class Ranked:
    """Rows sorted by group then by descending score, with each row's rank inside its group."""

    group: np.ndarray  # dense group index per sorted row
    rank: np.ndarray  # 0-based rank inside the group
    order: np.ndarray  # permutation from input rows to sorted rows


def _rank(groups: np.ndarray, key: np.ndarray) -> Ranked:
    """Sort rows by group and descending key; ties keep input order (deterministic)."""
    _, dense = np.unique(groups, return_inverse=True)
    order = np.lexsort((np.arange(key.size), -key, dense))
    g = dense[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    sizes = np.diff(np.r_[starts, g.size])
    rank = np.arange(g.size) - np.repeat(starts, sizes)
    return Ranked(g, rank, order)


def _per_group_sum(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    return np.bincount(group, weights=values, minlength=n_groups)


def ndcg_at_k(groups: np.ndarray, relevance: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Mean NDCG@k over groups with at least one relevant row (gain ``2**rel - 1``)."""
    if groups.size == 0:
        return float("nan")
    rel = np.asarray(relevance, dtype=float)
    scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    by_score = _rank(groups, scores)
    by_label = _rank(groups, rel)
    n = int(by_score.group.max()) + 1
    discount = 1.0 / np.log2(np.arange(groups.size) + 2.0)

    def dcg(ranked: Ranked) -> np.ndarray:
        gain = (2.0 ** rel[ranked.order] - 1.0) * discount[ranked.rank]
        return _per_group_sum(np.where(ranked.rank < k, gain, 0.0), ranked.group, n)

    ideal = dcg(by_label)
    keep = ideal > 0
    return float(np.mean(dcg(by_score)[keep] / ideal[keep])) if keep.any() else float("nan")


def mean_average_precision(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean over groups with at least one positive of the average precision of the ranking."""
    if groups.size == 0:
        return float("nan")
    y = np.asarray(labels, dtype=float)
    scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    ranked = _rank(groups, scores)
    n = int(ranked.group.max()) + 1
    hits = y[ranked.order]
    # Positives seen so far inside the group, at each sorted row.
    cum = np.cumsum(hits)
    group_start = np.r_[0, np.flatnonzero(np.diff(ranked.group)) + 1]
    offset = np.repeat(cum[group_start] - hits[group_start], np.diff(np.r_[group_start, y.size]))
    precision = (cum - offset) / (ranked.rank + 1.0)
    positives = _per_group_sum(hits, ranked.group, n)
    ap = _per_group_sum(precision * hits, ranked.group, n)
    keep = positives > 0
    return float(np.mean(ap[keep] / positives[keep])) if keep.any() else float("nan")


def expected_calibration_error(
    labels: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Row-weighted mean |observed rate − mean prediction| over equal-width probability bins."""
    y = np.asarray(labels, dtype=float)
    p = np.clip(np.asarray(probs, dtype=float), 0.0, 1.0)
    if y.size == 0:
        return float("nan")
    which = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(
        np.bincount(which, weights=y, minlength=bins)
        - np.bincount(which, weights=p, minlength=bins)
    )
    return float(gap.sum() / count.sum())


def engagement_grade(relevance: np.ndarray) -> np.ndarray:
    """0 shown or viewed, 1 clicked, 2 redeemed: the label of the primary NDCG."""
    return np.maximum(np.asarray(relevance, dtype=float) - 1.0, 0.0)


def ranking_metrics(
    groups: np.ndarray,
    relevance: np.ndarray,
    redeemed: np.ndarray,
    scores: np.ndarray,
    probs: np.ndarray | None,
    grades: np.ndarray | None = None,
) -> dict[str, float]:
    """NDCG@3, NDCG@5 and MAP from scores; AUC from scores; log loss, ECE, accuracy and F1
    from probabilities. ``redeemed`` is the binary label; ``grades`` the NDCG gain (default:
    the engagement grade of ``relevance``)."""
    grade = engagement_grade(relevance) if grades is None else np.asarray(grades, dtype=float)
    out = {f"ndcg_{k}": ndcg_at_k(groups, grade, scores, k) for k in NDCG_CUTOFFS}
    out |= {f"ndcg_{k}_rel": ndcg_at_k(groups, relevance, scores, k) for k in NDCG_CUTOFFS}
    out["map"] = mean_average_precision(groups, redeemed, scores)
    y = np.asarray(redeemed, dtype=int)
    both_classes = 0 < y.sum() < y.size
    finite = np.nan_to_num(np.asarray(scores, dtype=float), nan=-1e9)
    out["auc"] = float(roc_auc_score(y, finite)) if both_classes else float("nan")
    if probs is not None and both_classes:
        p = np.clip(np.asarray(probs, dtype=float), 1e-6, 1 - 1e-6)
        out["log_loss"] = float(log_loss(y, p, labels=[0, 1]))
        out["ece"] = expected_calibration_error(y, p)
        decided = (p >= 0.5).astype(int)
        out["accuracy"] = float(accuracy_score(y, decided))
        out["f1"] = float(f1_score(y, decided, zero_division=0.0))
    else:
        out["log_loss"] = out["ece"] = out["accuracy"] = out["f1"] = float("nan")
    return out


def segment_metrics(
    frame: pd.DataFrame,
    segments: pd.DataFrame,
    scores: np.ndarray,
    probs: np.ndarray | None,
    *,
    labels: np.ndarray | None = None,
    grades: np.ndarray | None = None,
    group: str = "request_id",
    subsets: dict[str, np.ndarray] | None = None,
) -> dict[str, dict[str, float]]:
    """``{"all": {...}, "card_product=Gold": {...}, "observed": {...}}``: the metrics overall,
    per segment and per named subset.

    ``segments`` has one column per segmentation (aligned with ``frame``); every value of every
    column is one segment. A request belongs to one customer, so segments keep requests whole.
    ``subsets`` are named boolean masks over ``frame`` (rows without censored labels, say).
    ``labels`` default to ``redeemed``, ``grades`` to the engagement grade, groups to requests.
    """
    groups = frame[group].to_numpy()
    relevance = frame["relevance"].to_numpy()
    y = frame["redeemed"].to_numpy() if labels is None else np.asarray(labels)
    gain = engagement_grade(relevance) if grades is None else np.asarray(grades, dtype=float)

    def on(rows: np.ndarray) -> dict[str, float]:
        return ranking_metrics(
            groups[rows],
            relevance[rows],
            y[rows],
            scores[rows],
            None if probs is None else probs[rows],
            gain[rows],
        ) | {"rows": float(rows.sum())}

    out = {"all": ranking_metrics(groups, relevance, y, scores, probs, gain)}
    for column in segments.columns:
        values = segments[column].to_numpy()
        for value in sorted(pd.unique(values[pd.notna(values)]), key=str):
            out[f"{column}={value}"] = on(values == value)
    for name, rows in (subsets or {}).items():
        out[name] = on(rows)
    return out
