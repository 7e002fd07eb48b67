"""``smartstack experiments evaluate`` and the promotion gate's off-policy check: logged slots,
their candidates, each ranker's top k, and the estimates, in one call."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from smartstack.evaluation.candidates import (
    Candidates,
    candidates,
    catalogue,
    scorers,
    target_lists,
    uniform_propensities,
)
from smartstack.evaluation.logs import (
    LoggedSlots,
    NoLoggedTraffic,
    generator_slots,
    sample_requests,
    service_slots,
)
from smartstack.evaluation.offpolicy import RankerEstimates, estimate
from smartstack.experiments.ope import clears
from smartstack.settings import Settings


class LogSource(StrEnum):
    service = "service"  # the ranking log of the running service, with exploration on
    generator = "generator"  # the synthetic data set's uniform-random impressions


class Reward(StrEnum):
    clicked = "clicked"
    redeemed = "redeemed"


@dataclass(frozen=True)
class Evaluation:
    source: LogSource
    reward: Reward
    k: int
    requests: int
    rankers: list[RankerEstimates]
    slots: LoggedSlots
    pool: Candidates
    targets: dict[str, pd.DataFrame]  # each ranker's top k of every logged request

    def of(self, ranker: str) -> RankerEstimates:
        return next(r for r in self.rankers if r.ranker == ranker)

    def clears(self, challenger: str, champion: str, estimator: str = "dr") -> bool:
        """The challenger's lower bound is above the champion's estimate."""
        return clears(
            self.of(challenger).estimates[estimator], self.of(champion).estimates[estimator]
        )


def logged_slots(
    settings: Settings, source: LogSource, k: int, max_requests: int | None, seed: int
) -> LoggedSlots:
    if source is LogSource.generator:
        return generator_slots(settings, k, max_requests=max_requests, seed=seed)
    slots = service_slots(settings, k)
    explored = slots.frame.groupby("request_id")["logged_propensity"].transform(
        lambda p: p.notna().all() and (p < 1).any()
    )
    frame = slots.frame[explored.astype(bool)]
    if frame.empty:
        raise NoLoggedTraffic(
            "the ranking log has no explored rankings (propensity below 1): turn exploration on "
            "in the experiments file for a while, or evaluate on --source generator"
        )
    frame = sample_requests(frame.reset_index(drop=True), max_requests, seed)
    return LoggedSlots(frame, slots.source, k)


def evaluate_rankers(
    settings: Settings,
    rankers: list[str],
    *,
    source: LogSource = LogSource.generator,
    reward: Reward = Reward.clicked,
    max_requests: int | None = 20_000,
    seed: int = 0,
    resamples: int = 2000,
) -> Evaluation:
    """Estimate each ranker's ``reward`` rate in the top k (``experiments.top_k``)."""
    k = settings.experiments.top_k
    slots = logged_slots(settings, source, k, max_requests, seed)
    return evaluate_slots(settings, slots, rankers, reward=reward, seed=seed, resamples=resamples)


def evaluate_slots(
    settings: Settings,
    slots: LoggedSlots,
    rankers: list[str],
    *,
    reward: Reward = Reward.clicked,
    seed: int = 0,
    resamples: int = 2000,
) -> Evaluation:
    """Estimate each ranker's ``reward`` rate in the top k on these logged slots."""
    source = LogSource(slots.source)
    pool = candidates(settings, slots, catalogue(settings))
    if source is LogSource.generator:
        slots = uniform_propensities(slots, pool)
    loaded = scorers(settings, rankers, pool.names)
    targets = target_lists(pool, loaded, slots.k)
    estimates = estimate(
        slots,
        pool,
        targets,
        {name: s.version for name, s in loaded.items()},
        reward=reward.value,
        confidence=settings.experiments.confidence,
        resamples=resamples,
        seed=seed,
    )
    return Evaluation(source, reward, slots.k, slots.requests, estimates, slots, pool, targets)
