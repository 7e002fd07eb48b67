"""Readouts of live experiments from the ranking log, the feedback table and the shadow log.

- A/B: per arm, customers and rankings, the click and redemption rate in the top k with a
  confidence interval (normal approximation over rankings), and the sample-ratio check on
  customers (the unit that is randomized) against the configured shares.
- Interleaving: per ranking, the team whose picks drew more clicks wins; the preference test
  over the rankings with a winner.
- Shadow: how often the shadow ranker agrees with the served one (same first offer, overlap of
  the top k), both score distributions, the served tiers, and latency per model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
from scipy.stats import norm

from smartstack.evaluation.logs import NoLoggedTraffic, outcomes, read_ranking_log
from smartstack.experiments.config import Experiment
from smartstack.experiments.interleaving import Preference, credit, preference_test
from smartstack.experiments.readout import sample_ratio_mismatch
from smartstack.settings import Settings


@dataclass(frozen=True)
class Rate:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class ArmReadout:
    arm: str
    ranker: str
    share: float
    customers: int
    rankings: int
    click_rate: Rate  # clicks per shown slot in the top k
    redeem_rate: Rate


@dataclass(frozen=True)
class ExperimentReadout:
    experiment: str
    kind: str
    k: int
    arms: list[ArmReadout]
    srm_p_value: float | None  # None: interleaving (every customer sees both rankers)
    preference: Preference | None  # interleaving only

    @property
    def split_ok(self) -> bool:
        return self.srm_p_value is None or self.srm_p_value > 0.01


def _rate(per_ranking: np.ndarray, confidence: float) -> Rate:
    """The mean of per-ranking rates with a normal-approximation interval."""
    n = len(per_ranking)
    if n == 0:
        return Rate(float("nan"), float("nan"), float("nan"))
    mean = float(per_ranking.mean())
    half = (
        float(norm.ppf(0.5 + confidence / 2) * per_ranking.std(ddof=1) / np.sqrt(n))
        if n > 1
        else float("inf")
    )
    return Rate(mean, mean - half, mean + half)


def _top_k_with_outcomes(settings: Settings, experiment: str, k: int) -> pd.DataFrame:
    log = read_ranking_log(settings)
    log = log[(log["experiment"] == experiment) & (log["rank"] <= k)]
    if log.empty:
        raise NoLoggedTraffic(f"the ranking log has no rankings of experiment '{experiment}'")
    frame = log.merge(outcomes(settings), on=["request_id", "offer_id"], how="left")
    frame[["clicked", "redeemed"]] = frame[["clicked", "redeemed"]].eq(True)  # no event: False
    return frame


def ab_readout(
    settings: Settings, experiment: Experiment, k: int, confidence: float
) -> ExperimentReadout:
    frame = _top_k_with_outcomes(settings, experiment.name, k)
    per_ranking = frame.groupby(["arm", "request_id"]).agg(
        customer=("customer_id", "first"),
        clicks=("clicked", "sum"),
        redemptions=("redeemed", "sum"),
        slots=("offer_id", "size"),
    )
    arms = []
    for arm in experiment.arms:
        rows = per_ranking.loc[arm.name] if arm.name in per_ranking.index else per_ranking.iloc[:0]
        arms.append(
            ArmReadout(
                arm.name,
                arm.ranker,
                arm.share,
                int(rows["customer"].nunique()),
                len(rows),
                _rate((rows["clicks"] / rows["slots"]).to_numpy(float), confidence),
                _rate((rows["redemptions"] / rows["slots"]).to_numpy(float), confidence),
            )
        )
    customers = {a.arm: a.customers for a in arms}
    srm = sample_ratio_mismatch(customers, {a.name: a.share for a in experiment.arms})
    return ExperimentReadout(experiment.name, experiment.kind, k, arms, srm, None)


def interleaving_readout(settings: Settings, experiment: Experiment, k: int) -> ExperimentReadout:
    frame = _top_k_with_outcomes(settings, experiment.name, k)
    first, second = (arm.ranker for arm in experiment.arms)
    team = frame["team"].map({first: "a", second: "b"})
    outcomes_ = [
        credit(list(group_teams), list(group_clicks))
        for (_, group_teams), (_, group_clicks) in zip(
            team.groupby(frame["request_id"]),
            frame["clicked"].groupby(frame["request_id"]),
            strict=True,
        )
    ]
    preference = preference_test(outcomes_)
    return ExperimentReadout(experiment.name, experiment.kind, k, [], None, preference)


@dataclass(frozen=True)
class ShadowReadout:
    rankings: int
    top1_agreement: float  # the same first offer
    overlap: float  # mean share of the served top k the shadow ranker also put in its top k
    served_scores: dict[str, float]  # quantiles
    shadow_scores: dict[str, float]
    tiers: dict[str, int]
    latency_ms: dict[str, dict[str, float]]  # per model: p50, p99


def shadow_dir(settings: Settings) -> Path:
    return settings.experiments.shadow_dir or settings.home / "serving" / "shadow"


def shadow_readout(settings: Settings) -> ShadowReadout:
    directory = shadow_dir(settings)
    if not directory.exists() or not any(directory.rglob("*.parquet")):
        raise NoLoggedTraffic(f"no shadow log at {directory}: configure `shadow:` and serve")
    frame = (
        ds.dataset(directory, format="parquet", partitioning="hive", exclude_invalid_files=True)
        .to_table()
        .to_pandas()
    )
    served, shadow = frame["served_offer_ids"], frame["shadow_offer_ids"]
    top1 = [bool(len(a) and len(b) and a[0] == b[0]) for a, b in zip(served, shadow, strict=True)]
    overlap = [
        len(set(a) & set(b)) / len(a) if len(a) else 1.0
        for a, b in zip(served, shadow, strict=True)
    ]

    def quantiles(lists: pd.Series) -> dict[str, float]:
        values = np.concatenate([np.asarray(v, float) for v in lists if v is not None and len(v)])
        return (
            {f"p{q}": float(np.percentile(values, q)) for q in (5, 50, 95)} if len(values) else {}
        )

    served_name = frame["served_model"] + " v" + frame["served_version"].fillna("-")
    shadow_name = frame["shadow_model"] + " v" + frame["shadow_version"].fillna("-")
    latency = {
        f"served {name}": {"p50": float(g.quantile(0.5)), "p99": float(g.quantile(0.99))}
        for name, g in frame["served_ms"].groupby(served_name)
    } | {
        f"shadow {name}": {"p50": float(g.quantile(0.5)), "p99": float(g.quantile(0.99))}
        for name, g in frame["shadow_ms"].groupby(shadow_name)
    }
    return ShadowReadout(
        rankings=len(frame),
        top1_agreement=float(np.mean(top1)),
        overlap=float(np.mean(overlap)),
        served_scores=quantiles(frame["served_scores"]),
        shadow_scores=quantiles(frame["shadow_scores"]),
        tiers={str(k): int(v) for k, v in frame["served_tier"].value_counts().items()},
        latency_ms=latency,
    )
