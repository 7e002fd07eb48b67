"""Readouts of live experiments from the ranking log, the feedback table and the shadow log.

- A/B: per arm, customers and rankings, the click and redemption rate per shown slot in the top
  k with a confidence interval over customers (the unit that is randomized; delta method for
  the ratio), and the sample-ratio check on customers against the configured shares.
- Interleaving: per ranking, the team whose picks drew more clicks wins; the preference test
  over the rankings with a winner.
- Shadow: how often the shadow ranker agrees with the served one (same first offer, overlap of
  the top k), both score distributions, the served tiers, and latency per model.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def _rate(events: np.ndarray, slots: np.ndarray, confidence: float) -> Rate:
    """Events per shown slot over customers (each customer's sums, since customers are what
    was randomized and their rankings are not independent), with a delta-method interval for
    the ratio of means."""
    n = len(slots)
    if n < 2:
        return Rate(float("nan"), float("nan"), float("nan"))
    rate = events.sum() / slots.sum()
    residual = events - rate * slots
    se = np.sqrt((residual**2).sum() / (n * (n - 1))) / slots.mean()
    half = float(norm.ppf(0.5 + confidence / 2) * se)
    return Rate(float(rate), float(rate - half), float(rate + half))


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
    per_customer = frame.groupby(["arm", "customer_id"]).agg(
        rankings=("request_id", "nunique"),
        clicks=("clicked", "sum"),
        redemptions=("redeemed", "sum"),
        slots=("offer_id", "size"),
    )
    arms = []
    for arm in experiment.arms:
        rows = (
            per_customer.loc[arm.name] if arm.name in per_customer.index else per_customer.iloc[:0]
        )
        slots = rows["slots"].to_numpy(float)
        arms.append(
            ArmReadout(
                arm.name,
                arm.ranker,
                arm.share,
                len(rows),
                int(rows["rankings"].sum()),
                _rate(rows["clicks"].to_numpy(float), slots, confidence),
                _rate(rows["redemptions"].to_numpy(float), slots, confidence),
            )
        )
    # An arm with no share expects no one: the check is over the arms that take customers.
    shares = {a.name: a.share for a in experiment.arms if a.share > 0}
    srm = sample_ratio_mismatch({a.arm: a.customers for a in arms}, shares)
    return ExperimentReadout(experiment.name, experiment.kind, k, arms, srm, None)


def interleaving_readout(settings: Settings, experiment: Experiment, k: int) -> ExperimentReadout:
    frame = _top_k_with_outcomes(settings, experiment.name, k)
    first, second = (arm.name for arm in experiment.arms)
    frame = frame[frame["arm"] == "interleaved"].sort_values(["request_id", "rank"])
    frame = frame.assign(side=frame["team"].map({first: "a", second: "b"}))
    frame = frame[frame["side"].notna()]  # a team that is neither arm: another kind of experiment
    outcomes_ = [
        credit(list(group["side"]), list(group["clicked"]))
        for _, group in frame.groupby("request_id", sort=False)
    ]
    preference = preference_test(outcomes_)
    return ExperimentReadout(experiment.name, experiment.kind, k, [], None, preference)


@dataclass(frozen=True)
class ShadowReadout:
    rankings: int
    top1_agreement: float  # the same first offer as the served ranker's own order
    overlap: float  # mean share of the served ranker's top k also in the shadow's top k
    served_scores: dict[str, float]  # quantiles
    shadow_scores: dict[str, float]
    tiers: dict[str, int]
    latency_ms: dict[str, dict[str, float]]  # per model: p50, p99


def shadow_readout(settings: Settings) -> ShadowReadout:
    directory = settings.shadow_log_dir
    if not directory.exists() or not any(directory.rglob("*.parquet")):
        raise NoLoggedTraffic(f"no shadow log at {directory}: configure `shadow:` and serve")
    frame = (
        ds.dataset(directory, format="parquet", partitioning="hive", exclude_invalid_files=True)
        .to_table()
        .to_pandas()
    )
    # Against the served ranker's own order: exploration or interleaving may have shown
    # another, and that is not the rankers disagreeing.
    served, shadow = frame["served_ranker_offer_ids"], frame["shadow_offer_ids"]
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
