"""Diagnostic figures logged with every run: feature importance, calibration, PR curve."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on workers; set before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xgboost as xgb  # noqa: E402
from sklearn.metrics import average_precision_score, precision_recall_curve  # noqa: E402

from smartstack.training.baselines import Scored  # noqa: E402
from smartstack.training.metrics import ECE_BINS  # noqa: E402


def feature_importance(booster: xgb.Booster, path: Path, top: int = 25) -> dict[str, float]:
    """Total gain per feature (top ``top`` plotted); returns every feature's gain."""
    gain = booster.get_score(importance_type="total_gain")
    ranked = sorted(gain.items(), key=lambda kv: kv[1], reverse=True)
    shown = ranked[:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(shown) + 1.2))
    ax.barh([n for n, _ in shown], [v for _, v in shown], color="#3b6ea8")
    ax.set_xlabel("total gain")
    ax.set_title(f"Feature importance (top {len(shown)} of {len(booster.feature_names or [])})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return dict(ranked)


def calibration(labels: np.ndarray, curves: dict[str, Scored], path: Path) -> None:
    """Reliability diagram of the calibrated probabilities of redemption."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect")
    edges = np.linspace(0, 1, ECE_BINS + 1)
    for name, scored in curves.items():
        if scored.probs is None:
            continue
        which = np.clip(np.digitize(scored.probs, edges) - 1, 0, ECE_BINS - 1)
        count = np.bincount(which, minlength=ECE_BINS)
        keep = count > 0
        mean_p = np.bincount(which, weights=scored.probs, minlength=ECE_BINS)[keep] / count[keep]
        rate = np.bincount(which, weights=labels, minlength=ECE_BINS)[keep] / count[keep]
        ax.plot(mean_p, rate, marker="o", label=name)
    ax.set_xlabel("predicted probability of redemption")
    ax.set_ylabel("observed redemption rate")
    ax.set_title("Calibration (test period)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pr_curve(labels: np.ndarray, curves: dict[str, Scored], path: Path) -> None:
    """Precision-recall of redemption, one curve per ranker."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, scored in curves.items():
        precision, recall, _ = precision_recall_curve(labels, scored.scores)
        ap = average_precision_score(labels, scored.scores)
        ax.plot(recall, precision, label=f"{name} (AP {ap:.3f})")
    ax.axhline(labels.mean(), ls="--", color="grey", lw=1, label="base rate")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall of redemption (test period)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
