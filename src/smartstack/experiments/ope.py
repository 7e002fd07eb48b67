"""Off-policy evaluation: a ranker's click rate in the top k, estimated from another's log.

Before a challenger takes live traffic, its value is estimated from what the logging policy
(uniformly random offers, or :mod:`smartstack.experiments.exploration`'s Plackett–Luce
sampling) showed and what came of it. The model is item-position: the reward at a slot
depends on the offer in it and on the position, not on the other offers in the list (the
synthetic data's clicks are made this way: the chance of a view depends on the position and
the customer, that of a click on the offer's utility). So each slot is its own bandit round,
reweighted by the target's over the logging policy's marginal probability of putting the
logged offer there, which needs far less data than reweighting whole lists would.

The value is the expected reward per slot in the top k: the mean over requests of the sum of
their k slots' rewards, divided by k. Three estimators:

- ``ips``: inverse propensity scoring, unbiased while the logging policy gives every offer the
  target might show at a slot some chance of being there;
- ``snips``: self-normalised IPS, per slot the weighted rewards over the weights: a little
  biased, less variable when the weights are large. A slot where no logged offer has weight
  under the target counts as 0 (and is warned about: the log says nothing about it);
- ``dr``: doubly robust, a reward model's estimate of the target's rewards corrected by the
  reweighted residuals of the logged ones: unbiased when either the propensities or the reward
  model are right, and narrower than IPS when the model is good.

Intervals come from a bootstrap over clusters: requests by default (a request's k slots are
resampled together, since they share a customer and a moment), or customers when given (a
customer's requests are not independent of each other either). Open Bandit Pipeline
implements these estimators, but its last release (0.5.7) requires Python < 3.11, so they are
written here on numpy and scipy.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np
from scipy.stats import bootstrap

ESTIMATORS = ("ips", "snips", "dr")
# Bootstrap resamples are drawn in batches of at most this many values (the resampled indices
# and each resampled sample: 32 MB in all), which bounds memory and keeps the arrays cheap to
# allocate: much faster than one batch of every resample.
_BOOTSTRAP_ELEMENTS = 2**22


@dataclass(frozen=True)
class Rounds:
    """Logged rounds, one per (request, slot in the top k), as equal-length 1-D arrays."""

    request: np.ndarray  # the round's request, an integer id (for the request-level bootstrap)
    position: np.ndarray  # the slot, 0-based (< k)
    reward: np.ndarray  # what the shown offer earned (a click, a redemption)
    # the logging policy's marginal probability of the logged offer at that slot (1/n for a
    # uniformly random choice among n offers)
    logged_propensity: np.ndarray
    # the target policy's probability of putting the logged offer at that slot (0 or 1 for a
    # deterministic ranker)
    target_propensity: np.ndarray
    # doubly robust only: the reward model's estimate for the logged offer at its slot, and its
    # expectation under the target at that slot (sum over offers a of P(a at j) q(a, j))
    q_logged: np.ndarray | None = None
    q_target: np.ndarray | None = None
    # The unit the bootstrap resamples (the customer, whose requests are not independent of
    # each other); None: each request is its own.
    cluster: np.ndarray | None = None

    def __post_init__(self) -> None:
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, values in arrays.items():
            if values is None:
                continue
            values = np.asarray(values)
            if values.ndim != 1:
                raise ValueError(f"{name} must be one-dimensional, not of shape {values.shape}")
            integral = ("request", "position", "cluster")
            if name in integral and not np.issubdtype(values.dtype, np.integer):
                raise ValueError(f"{name} must be integers, not {values.dtype}")
            if name not in integral:
                values = values.astype(float)
                if not np.all(np.isfinite(values)):
                    raise ValueError(f"{name} must be finite")
            object.__setattr__(self, name, values)
        lengths = {name: len(getattr(self, name)) for name, v in arrays.items() if v is not None}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"the arrays must be of one length, not {lengths}")
        if (self.q_logged is None) != (self.q_target is None):
            raise ValueError("q_logged and q_target come together (both or neither)")
        if np.any(self.logged_propensity <= 0) or np.any(self.logged_propensity > 1):
            raise ValueError(
                "every logged propensity must be in (0, 1]: a logged offer had some chance of "
                "being shown"
            )
        if np.any(self.target_propensity < 0) or np.any(self.target_propensity > 1):
            raise ValueError("every target propensity must be in [0, 1]")


@dataclass(frozen=True)
class Estimate:
    """An estimator's value with its confidence interval, over ``requests`` requests."""

    estimator: str
    value: float
    low: float
    high: float
    requests: int


def evaluate(
    rounds: Rounds,
    *,
    k: int,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    estimators: Sequence[str] = ESTIMATORS,
) -> dict[str, Estimate]:
    """The target policy's value (reward per slot in the top k) by each estimator, with
    ``confidence`` intervals from ``resamples`` bootstrap resamples of the requests (seeded, so
    the same log gives the same intervals)."""
    unknown = sorted(set(estimators) - set(ESTIMATORS))
    if unknown:
        raise ValueError(f"unknown estimators {unknown}: choose from {list(ESTIMATORS)}")
    if "dr" in estimators and rounds.q_logged is None:
        raise ValueError("the doubly robust estimate needs q_logged and q_target")
    if not 0 < confidence < 1:
        raise ValueError(f"the confidence must be between 0 and 1, not {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples}")
    slots = _slots(rounds, k)

    def table(values: np.ndarray) -> np.ndarray:
        return values[slots]  # (requests, k)

    weight = table(rounds.target_propensity / rounds.logged_propensity)
    reward = table(rounds.reward)
    weighted = weight * reward
    unsupported = np.flatnonzero(weight.sum(axis=0) == 0).tolist()
    if "snips" in estimators and unsupported:
        warnings.warn(
            f"snips: no logged offer at slot(s) {unsupported} has weight under the target, so "
            "they count as 0: the log says nothing about them",
            RuntimeWarning,
            stacklevel=2,
        )
    # Each estimator: per-cluster sums (the bootstrap resamples clusters, keeping a cluster's
    # requests together) and the statistic of them: a ratio of sums, which is the mean over
    # requests when every cluster is one request.
    cluster = _clusters(rounds, slots)
    requests = _summed(np.ones(len(slots)), cluster)
    samples: dict[str, tuple[list[np.ndarray], Callable[..., np.ndarray]]] = {
        "ips": ([_summed(weighted.mean(axis=1), cluster), requests], _ratio),
        "snips": ([*_summed(weighted, cluster).T, *_summed(weight, cluster).T], _self_normalised),
    }
    if "dr" in estimators:
        q_target, q_logged = table(rounds.q_target), table(rounds.q_logged)
        corrected = (q_target + weight * (reward - q_logged)).mean(axis=1)
        samples["dr"] = ([_summed(corrected, cluster), requests], _ratio)
    return {
        name: _estimate(name, *samples[name], len(slots), confidence, resamples, seed)
        for name in estimators
    }


def _clusters(rounds: Rounds, slots: np.ndarray) -> np.ndarray:
    """Each request's cluster, numbered from 0 (each request its own when none are given)."""
    if rounds.cluster is None:
        return np.arange(len(slots))
    return np.unique(rounds.cluster[slots[:, 0]], return_inverse=True)[1]


def _summed(values: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """Per-request values (rows) summed per cluster."""
    out = np.zeros((cluster.max() + 1, *values.shape[1:]))
    np.add.at(out, cluster, values)
    return out


def _ratio(sums: np.ndarray, counts: np.ndarray, axis: int = -1) -> np.ndarray:
    return sums.sum(axis=axis) / counts.sum(axis=axis)


def clears(challenger: Estimate, champion: Estimate) -> bool:
    """The promotion gate: the challenger's lower bound is above the champion's estimate."""
    return challenger.low > champion.value


def _slots(rounds: Rounds, k: int) -> np.ndarray:
    """Indices of the rounds as a (requests, k) table: row r, column j is request r's round at
    slot j. Every request must have exactly one round per slot."""
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    position = rounds.position
    if np.any(position < 0) or np.any(position >= k):
        raise ValueError(f"every position must be a slot of the top {k} (0 to {k - 1})")
    ids, request = np.unique(rounds.request, return_inverse=True)
    if ids.size < 2:
        raise ValueError("an interval needs at least 2 requests")
    cell = request * k + position
    counts = np.bincount(cell, minlength=ids.size * k)
    if np.any(counts != 1):
        first = int(np.flatnonzero(counts != 1)[0])
        raise ValueError(
            f"every request must have exactly one round at each of its {k} slots: request "
            f"{ids[first // k]} has {counts[first]} rounds at slot {first % k}"
        )
    slots = np.empty(cell.size, dtype=np.intp)
    slots[cell] = np.arange(cell.size)
    return slots.reshape(ids.size, k)


def _estimate(
    name: str,
    samples: list[np.ndarray],
    statistic: Callable[..., np.ndarray],
    requests: int,
    confidence: float,
    resamples: int,
    seed: int,
) -> Estimate:
    """The statistic of the per-cluster samples, and its interval from resampling clusters."""
    clusters = samples[0].size
    # Percentile, not BCa: BCa's acceleration is a jackknife over the clusters (quadratic in
    # them: 4·10^10 values at 200,000), and it is undefined (NaN) when the bootstrap
    # distribution is degenerate, as it is when almost every request earned nothing.
    result = bootstrap(
        [np.ascontiguousarray(sample) for sample in samples],
        statistic,
        n_resamples=resamples,
        batch=max(1, _BOOTSTRAP_ELEMENTS // (clusters * (len(samples) + 1))),
        vectorized=True,
        paired=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return Estimate(
        estimator=name,
        value=float(statistic(*samples, axis=-1)),
        low=float(interval.low),
        high=float(interval.high),
        requests=requests,
    )


def _self_normalised(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    """Per slot, the weighted rewards over the weights (0 without weight), then the mean over
    slots; the samples are the k slots' weighted rewards, then their k weights."""
    k = len(samples) // 2
    weighted = np.stack([sample.sum(axis=axis) for sample in samples[:k]])
    weight = np.stack([sample.sum(axis=axis) for sample in samples[k:]])
    ratio = np.divide(weighted, weight, out=np.zeros_like(weighted), where=weight > 0)
    return ratio.mean(axis=0)
