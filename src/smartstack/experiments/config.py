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
    name: Name
    kind: Literal["ab"] = "ab"
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
        total = sum(arm.share for arm in self.arms)
        if abs(total - 1) > _TOLERANCE:
            raise ValueError(f"arms: shares sum to {total:g}, not 1")
        return self

    def running(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def concurrent(self, other: Experiment) -> bool:
        return self.start < other.end and other.start < self.end


class ExperimentsFile(_Strict):
    version: int = Field(ge=1)
    experiments: tuple[Experiment, ...] = ()

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
        known = {*rankers, SMARTSCORE}
        aliases = ", ".join(sorted(rankers)) or "none"
        for experiment in parsed.experiments:
            for index, arm in enumerate(experiment.arms):
                if arm.ranker not in known:
                    raise ExperimentFileError(
                        f"{source}: experiment '{experiment.name}': arms.{index}.ranker: "
                        f"'{arm.ranker}' is neither a registry alias ({aliases}) nor '{SMARTSCORE}'"
                    )
    return parsed


def load_experiments(path: Path, rankers: Collection[str] | None = None) -> ExperimentsFile:
    """The experiments in ``path``, validated (see :func:`parse_experiments`)."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ExperimentFileError(f"{path}: cannot be read ({error.strerror})") from None
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
