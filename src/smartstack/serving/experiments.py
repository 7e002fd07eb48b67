"""The experiments file as the service follows it: who is routed to which ranker.

The file is read at start and again whenever it changes (on the state poller's cadence and on
``POST /admin/reload``), and swapped in with the rest of the serving state. A file that does not
validate, or that names a registry alias the registry does not have, is not used at all: every
customer gets the champion, and each request served so is counted
(``smartstack_experiment_fallbacks_total{reason="config"}``), never a 5xx. The problem is
logged once per change of the file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from prometheus_client import Counter

from smartstack.experiments.assignment import Assigner
from smartstack.experiments.config import (
    ExperimentFileError,
    ExperimentsFile,
    load_experiments,
)

log = logging.getLogger(__name__)

FALLBACKS = Counter(
    "smartstack_experiment_fallbacks",
    "Rankings served by the champion instead of their experiment's ranker, by reason "
    "(config: the experiments file is not usable; ranker: the arm's model is not loaded).",
    ["reason"],
)
ARMS = Counter(
    "smartstack_experiment_rankings",
    "Rankings served inside an experiment, by experiment and arm.",
    ["experiment", "arm"],
)

_NO_EXPERIMENTS = ExperimentsFile(version=1)


@dataclass(frozen=True)
class Route:
    """Which ranker serves one request: the champion outside experiments; an arm's ranker; or,
    in an interleaving experiment, two rankers whose lists are interleaved."""

    ranker: str  # a registry alias or 'smartscore'
    experiment: str | None = None
    arm: str | None = None
    rival: str | None = None  # interleaving: the second arm's ranker
    teams: tuple[str, str] | None = None  # interleaving: the two arms' names
    teams: tuple[str, str] | None = None  # interleaving: the two arms' names


@dataclass(frozen=True)
class LiveExperiments:
    """One reading of the experiments file; ``problem`` says why it is not in use."""

    plan: ExperimentsFile = _NO_EXPERIMENTS
    problem: str | None = None
    stamp: int | None = None  # the file's modification time (ns) when read
    _assigner: Assigner = field(
        default_factory=lambda: Assigner(_NO_EXPERIMENTS), repr=False, compare=False
    )

    @classmethod
    def of(cls, plan: ExperimentsFile, stamp: int | None) -> LiveExperiments:
        return cls(plan, None, stamp, Assigner(plan))

    def broken(self, problem: str) -> LiveExperiments:
        """No experiments, for ``problem`` (the champion serves everyone, counted)."""
        return LiveExperiments(_NO_EXPERIMENTS, problem, self.stamp)

    def rankers(self) -> set[str]:
        return self.plan.rankers()

    def route(self, customer_id: str, at: datetime, champion: str) -> Route:
        if self.problem is not None:
            FALLBACKS.labels(reason="config").inc()
            return Route(champion)
        assignment = self._assigner.assign(customer_id, at)
        if assignment is None:
            return Route(champion)
        ARMS.labels(experiment=assignment.experiment, arm=assignment.arm.name).inc()
        experiment = next(e for e in self.plan.experiments if e.name == assignment.experiment)
        if experiment.kind == "interleaving":
            first, second = experiment.arms
            return Route(
                first.ranker,
                experiment.name,
                "interleaved",
                second.ranker,
                (first.name, second.name),
            )
        return Route(assignment.arm.ranker, experiment.name, assignment.arm.name)


class ExperimentsSource:
    """The experiments file, read again only when its modification time changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._last = LiveExperiments(stamp=-1)  # nothing read yet

    def _stamp(self) -> int | None:
        try:
            return self._path.stat().st_mtime_ns
        except OSError:
            return None

    def load(self) -> LiveExperiments:
        """The file as it is now (no file: no experiments); a file that cannot be used is a
        reading with its problem, logged once."""
        stamp = self._stamp()
        if stamp == self._last.stamp:
            return self._last
        if stamp is None:
            self._last = LiveExperiments(stamp=None)
            return self._last
        try:
            self._last = LiveExperiments.of(load_experiments(self._path), stamp)
            log.info("experiments file read: %d experiments", len(self._last.plan.experiments))
        except Exception as error:  # whatever it is, the champion serves everyone
            problem = str(error) if isinstance(error, ExperimentFileError) else repr(error)
            log.error("experiments file not used, the champion serves everyone: %s", problem)
            self._last = LiveExperiments(stamp=stamp).broken(problem)
        return self._last
