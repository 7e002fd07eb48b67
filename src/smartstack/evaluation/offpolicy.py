"""Off-policy estimates of rankers' click (or redemption) rate in the top k, from logged slots.

Per ranker, its top k of each logged request (from :mod:`smartstack.evaluation.candidates`)
meets the log: a logged slot has target propensity 1 when the ranker would have put the
logged offer there. The doubly robust estimator's reward model is a gradient-boosted classifier
of the reward on the offer's features and the slot, cross-fitted (each half of the requests is
scored by a model fitted on the other half), so its errors on a request are independent of
that request's own outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb

from smartstack.evaluation.candidates import Candidates
from smartstack.evaluation.logs import LoggedSlots
from smartstack.experiments.ope import ESTIMATORS, Estimate, Rounds, evaluate

_FOLDS = 2


@dataclass(frozen=True)
class RankerEstimates:
    ranker: str
    version: str | None
    estimates: dict[str, Estimate]
    # The share of logged slots where the ranker agrees with the log (its effective sample).
    matched: float


def _with_features(frame: pd.DataFrame, pool: Candidates) -> np.ndarray:
    """Features of each row's (request, offer), then the slot one-hot."""
    rows = frame[["request_id", "offer_id"]].merge(
        pool.frame[["request_id", "offer_id", *pool.names]],
        on=["request_id", "offer_id"],
        how="left",
    )
    positions = frame["position"].to_numpy()
    slots = np.eye(int(positions.max()))[positions - 1]
    return np.hstack([rows[pool.names].to_numpy(dtype=np.float64), slots])


def reward_model(
    slots: LoggedSlots, pool: Candidates, reward: str, seed: int
) -> list[tuple[np.ndarray, xgb.XGBClassifier]]:
    """One classifier per fold of requests, each fitted on the other folds' logged slots;
    returned with the requests it may score."""
    requests = slots.frame["request_id"].drop_duplicates().to_numpy()
    fold_of = np.random.default_rng(seed).integers(0, _FOLDS, len(requests))
    x = _with_features(slots.frame, pool)
    y = slots.frame[reward].to_numpy().astype(int)
    in_fold = slots.frame["request_id"].map(dict(zip(requests, fold_of, strict=True))).to_numpy()
    models = []
    for fold in range(_FOLDS):
        train = in_fold != fold
        model = xgb.XGBClassifier(
            n_estimators=100, max_depth=4, learning_rate=0.1, n_jobs=2, random_state=seed
        )
        if len(np.unique(y[train])) < 2:  # no click at all in the other folds: a constant
            model = _Constant(float(y[train].mean()) if train.any() else 0.0)
        else:
            model.fit(x[train], y[train])
        models.append((requests[fold_of == fold], model))
    return models


@dataclass(frozen=True)
class _Constant:
    rate: float

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.column_stack([np.full(len(x), 1 - self.rate), np.full(len(x), self.rate)])


def _predict(
    models: list[tuple[np.ndarray, xgb.XGBClassifier]],
    frame: pd.DataFrame,
    pool: Candidates,
) -> np.ndarray:
    x = _with_features(frame, pool)
    out = np.empty(len(frame))
    for requests, model in models:
        rows = frame["request_id"].isin(requests).to_numpy()
        if rows.any():
            out[rows] = model.predict_proba(x[rows])[:, 1]
    return out


def estimate(
    slots: LoggedSlots,
    pool: Candidates,
    targets: Mapping[str, pd.DataFrame],
    versions: Mapping[str, str | None],
    *,
    reward: str = "clicked",
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> list[RankerEstimates]:
    """IPS, SNIPS and DR estimates of each target ranker's reward rate in the top k."""
    logged = slots.frame
    request = pd.factorize(logged["request_id"])[0]
    customer = pd.factorize(logged["customer_id"])[0]  # the bootstrap resamples customers
    models = reward_model(slots, pool, reward, seed)
    q_logged = _predict(models, logged, pool)
    out = []
    for name, target in targets.items():
        at_slot = logged[["request_id", "position"]].merge(
            target[["request_id", "position", "offer_id"]],
            on=["request_id", "position"],
            how="left",
        )
        matched = (at_slot["offer_id"].to_numpy() == logged["offer_id"].to_numpy()).astype(float)
        q_target = _predict(models, at_slot, pool)
        rounds = Rounds(
            request=request,
            position=logged["position"].to_numpy() - 1,
            reward=logged[reward].to_numpy().astype(float),
            logged_propensity=logged["logged_propensity"].to_numpy(dtype=float),
            target_propensity=matched,
            q_logged=q_logged,
            q_target=q_target,
            cluster=customer,
        )
        estimates = evaluate(
            rounds,
            k=slots.k,
            confidence=confidence,
            resamples=resamples,
            seed=seed,
            estimators=ESTIMATORS,
        )
        out.append(RankerEstimates(name, versions.get(name), estimates, float(matched.mean())))
    return out
