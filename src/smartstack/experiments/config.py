"""The experiments file: which rankers share live traffic, in what proportions, and when.

Experiments are data (``experiments/experiments.yaml``), versioned with the code and validated
whole before anything uses them. Each experiment takes a slice of the customers (``customers``:
a range of GrowthBook's namespace hash, so two experiments running at the same time never share
a customer) and splits it between its arms by share; an arm is a ranker: a registry alias
(``champion``, ``challenger``, ...) or ``smartscore``. A bad file is an
:class:`ExperimentFileError` whose message names the experiment and the field, e.g.
``experiment 'challenger-ab': arms: shares sum to 0.9, not 1``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

# The rule-based ranker: always known, never in the registry.
SMARTSCORE = "smartscore"

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
Share = Annotated[float, Field(ge=0, le=1)]
# Shares are decimals written by people: 0.1 + 0.2 is not exactly 0.3 in binary.
_TOLERANCE = 1e-9


class ExperimentFileError(ValueError):
    """An experiments file that cannot be used; the message names the experiment and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arm(_Strict):
    name: Name
    ranker: Name = Field(description="A registry alias of the model, or 'smartscore'.")
    share: Share = Field(description="The arm's share of the experiment's customers.")


class CustomerSlice(_Strict):
    """A range of the namespace hash (0 to 1): the customers an experiment may take."""

    start: Share = 0.0
    end: Share = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self

    def overlaps(self, other: CustomerSlice) -> bool:
        return self.start < other.end and other.start < self.end


class Experiment(_Strict):
    """``ab``: each customer sees their arm's ranking. ``interleaving``: each customer in the
    slice sees the team-draft interleaving of the two arms' rankings (shares do not apply)."""

    name: Name
    kind: Literal["ab", "interleaving"] = "ab"
    salt: str = Field(min_length=1, max_length=128, description="Seeds the assignment hash.")
    start: AwareDatetime
    end: AwareDatetime
    customers: CustomerSlice = CustomerSlice()
    arms: tuple[Arm, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"end: {self.end.isoformat()} is not after start")
        names = [arm.name for arm in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arms: names repeat ({', '.join(names)})")
        if self.kind == "interleaving" and len(self.arms) != 2:
            raise ValueError(f"arms: interleaving takes exactly 2 arms, not {len(self.arms)}")
        if self.kind == "interleaving" and self.arms[0].ranker == self.arms[1].ranker:
            raise ValueError("arms: interleaving compares two different rankers")
        total = sum(arm.share for arm in self.arms)
        if abs(total - 1) > _TOLERANCE:
            raise ValueError(f"arms: shares sum to {total:g}, not 1")
        return self

    def running(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def concurrent(self, other: Experiment) -> bool:
        return self.start < other.end and other.start < self.end


class Shadow(_Strict):
    """A ranker that scores a share of the requests beside the served one, never served."""

    ranker: Name = Field(description="A registry alias of the model, or 'smartscore'.")
    share: Share = Field(description="The share of personal rankings it also scores.")


class Exploration(_Strict):
    """Served orders sampled from the scores (Plackett–Luce), so that any ranker can be
    evaluated off-policy from the log; the probability of what was shown is logged.

    The temperature is in the scores' own units: a model scoring redemption probabilities
    (0 to 1) explores gently at 0.05–0.2 and almost uniformly at 1. Only the ``candidates``
    best-scored offers are sampled from (exact propensities cost candidates² per request)."""

    temperature: float = Field(gt=0, le=100, description="Softmax temperature of the scores.")
    candidates: int = Field(20, ge=2, le=40, description="The best-scored offers sampled from.")


class ExperimentsFile(_Strict):
    version: int = Field(ge=1)
    shadow: Shadow | None = None
    exploration: Exploration | None = None
    experiments: tuple[Experiment, ...] = ()

    def rankers(self) -> set[str]:
        """Every ranker the file names (the service loads each registry alias among them)."""
        named = {arm.ranker for e in self.experiments for arm in e.arms}
        return named | ({self.shadow.ranker} if self.shadow else set())

    @model_validator(mode="after")
    def _no_shared_customers(self) -> Self:
        names = [e.name for e in self.experiments]
        if len(set(names)) != len(names):
            raise ValueError(f"experiments: names repeat ({', '.join(names)})")
        for i, first in enumerate(self.experiments):
            for second in self.experiments[i + 1 :]:
                if first.concurrent(second) and first.customers.overlaps(second.customers):
                    raise ValueError(
                        f"experiments '{first.name}' and '{second.name}': customers: their "
                        "slices overlap while both run (give them disjoint start/end ranges)"
                    )
        return self


def parse_experiments(
    raw: Any, source: str, rankers: Collection[str] | None = None
) -> ExperimentsFile:
    """The experiments in ``raw`` (the YAML's content), validated; ``rankers`` (the registry's
    aliases) also checks every arm's ranker exists."""
    try:
        parsed = ExperimentsFile.model_validate(raw)
    except ValidationError as error:
        raise ExperimentFileError(f"{source}: {_describe(error, raw)}") from None
    if rankers is not None:
        unknown = unknown_rankers(parsed, rankers)
        if unknown:
            raise ExperimentFileError(f"{source}: {unknown[0]}")
    return parsed


def unknown_rankers(parsed: ExperimentsFile, rankers: Collection[str]) -> list[str]:
    """A sentence for each ranker of ``parsed`` that is neither in ``rankers`` (the registry's
    aliases) nor SmartScore, naming the experiment and field."""
    known = {*rankers, SMARTSCORE}
    aliases = ", ".join(sorted(rankers)) or "none"
    named = [
        (f"experiment '{e.name}': arms.{index}.ranker", arm.ranker)
        for e in parsed.experiments
        for index, arm in enumerate(e.arms)
    ]
    if parsed.shadow is not None:
        named.append(("shadow.ranker", parsed.shadow.ranker))
    return [
        f"{where}: '{ranker}' is neither a registry alias ({aliases}) nor '{SMARTSCORE}'"
        for where, ranker in named
        if ranker not in known
    ]


def load_experiments(path: Path, rankers: Collection[str] | None = None) -> ExperimentsFile:
    """The experiments in ``path``, validated (see :func:`parse_experiments`)."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ExperimentFileError(f"{path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ExperimentFileError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as error:
        raise ExperimentFileError(f"{path}: not valid YAML ({error})") from None
    return parse_experiments(raw, str(path), rankers)


def _describe(error: ValidationError, raw: Any) -> str:
    """Each problem as ``experiment 'NAME': FIELD: MESSAGE``."""
    problems = []
    for problem in error.errors(include_url=False):
        loc = list(problem["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "experiments" and isinstance(loc[1], int):
            where = f"experiment '{_name_at(raw, loc[1])}': "
            loc = loc[2:]
        field = ".".join(str(part) for part in loc)
        message = problem["msg"].removeprefix("Value error, ")
        problems.append(f"{where}{field + ': ' if field else ''}{message}")
    return "; ".join(problems)


def _name_at(raw: Any, index: int) -> str:
    try:
        return str(raw["experiments"][index]["name"])
    except (KeyError, IndexError, TypeError):
        return f"#{index + 1}"
