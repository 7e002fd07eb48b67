"""Which arm of which experiment a customer is in: a deterministic hash of the customer id.

GrowthBook's hashing (FNV-1a, its version 2) and bucketing, so an assignment is the same on
every worker and replica, across restarts, and as GrowthBook's own SDKs would make it: a
customer is in an experiment when the namespace hash of their id falls in the experiment's
customer slice, and in the arm whose bucket range holds the hash of their id seeded with the
experiment's salt. Changing the salt reshuffles the customers; changing nothing keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from growthbook.core import chooseVariation, gbhash, getBucketRanges, inNamespace

from smartstack.experiments.config import Arm, Experiment, ExperimentsFile

# One namespace for every experiment: their customer slices are ranges of this one hash.
NAMESPACE = "smartstack"
_HASH_VERSION = 2


@dataclass(frozen=True)
class Assignment:
    experiment: str
    arm: Arm


class Assigner:
    """Assignments under one experiments file."""

    def __init__(self, experiments: ExperimentsFile) -> None:
        self._experiments = experiments.experiments
        # Bucket ranges depend on the shares only: worked out once per experiment.
        self._ranges = {
            e.name: getBucketRanges(len(e.arms), 1, [arm.share for arm in e.arms])
            for e in self._experiments
        }

    def assign(self, customer_id: str, at: datetime) -> Assignment | None:
        """The customer's arm in the experiment running at ``at`` that takes them; None: in
        none (served by the champion)."""
        for experiment in self._experiments:
            if experiment.running(at) and _takes(experiment, customer_id):
                arm = self._arm(experiment, customer_id)
                if arm is not None:
                    return Assignment(experiment.name, arm)
        return None

    def _arm(self, experiment: Experiment, customer_id: str) -> Arm | None:
        n = gbhash(experiment.salt, customer_id, _HASH_VERSION)
        index = -1 if n is None else chooseVariation(n, self._ranges[experiment.name])
        return experiment.arms[index] if index >= 0 else None


def _takes(experiment: Experiment, customer_id: str) -> bool:
    slice_ = experiment.customers
    return inNamespace(customer_id, (NAMESPACE, slice_.start, slice_.end))
