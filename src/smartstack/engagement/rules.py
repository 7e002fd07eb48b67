"""The engagement rules file: the streak's qualifying actions, the badges and the guardrail.

Rules are data (``engagement/rules.yaml``), so product people change badges without a release.
A file is validated whole before anything uses it: an unknown field, a bad value, a duplicate
id or a metric the platform does not count is a :class:`RuleFileError` whose message names the
rule and the field (``badge 'explorer': field 'target': ...``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Action(StrEnum):
    """What a customer did that engagement counts."""

    redeem = "redeem"
    rating = "rating"
    click = "click"
    quiz = "quiz"


class Metric(StrEnum):
    """The per-customer counts a badge can target."""

    redemptions = "redemptions"
    redeemed_categories = "redeemed_categories"
    ratings = "ratings"
    clicks = "clicks"
    quizzes = "quizzes"
    longest_streak = "longest_streak"  # weeks


# The action each count is made of (the streak is made of every qualifying action).
METRIC_ACTION: dict[Metric, Action | None] = {
    Metric.redemptions: Action.redeem,
    Metric.redeemed_categories: Action.redeem,
    Metric.ratings: Action.rating,
    Metric.clicks: Action.click,
    Metric.quizzes: Action.quiz,
    Metric.longest_streak: None,
}

RuleId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StreakRule(_Strict):
    qualifying: frozenset[Action] = Field(min_length=1)


class Guardrail(_Strict):
    """Spend rising against the customer's own baseline: spending actions earn nothing."""

    id: RuleId
    recent_spend: str = Field(pattern=r"^[a-z0-9_]+:[a-z0-9_]+$")
    baseline_spend: str = Field(pattern=r"^[a-z0-9_]+:[a-z0-9_]+$")
    baseline_months: float = Field(gt=0)
    ratio: float = Field(gt=0)
    spending_actions: frozenset[Action]

    def rising(self, recent: float | None, baseline: float | None) -> bool:
        """Whether spend of ``recent`` against a window total of ``baseline`` is rising
        sharply. Unknown spend (no features) is not rising: nothing to compare."""
        if recent is None or baseline is None:
            return False
        return recent > self.ratio * baseline / self.baseline_months


class Badge(_Strict):
    id: RuleId
    title: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=280)
    metric: Metric
    target: int = Field(ge=1)
    retired: bool = False


class RuleSet(_Strict):
    version: int = Field(ge=1)
    streak: StreakRule
    guardrail: Guardrail | None = None
    badges: tuple[Badge, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        seen: set[str] = set()
        for badge in self.badges:
            if badge.id in seen:
                raise ValueError(f"badge '{badge.id}': field 'id': used by another badge")
            seen.add(badge.id)
        return self

    @property
    def active(self) -> tuple[Badge, ...]:
        """The badges still awarded."""
        return tuple(b for b in self.badges if not b.retired)


class RuleFileError(ValueError):
    """A rules file that cannot be used; the message names the file, the rule and the field."""


def _where(raw: Any, loc: tuple[int | str, ...]) -> str:
    """``badge 'explorer': field 'target'`` for a pydantic error location."""
    if len(loc) >= 2 and loc[0] == "badges" and isinstance(loc[1], int):
        badges = raw.get("badges") if isinstance(raw, dict) else None
        entry = badges[loc[1]] if isinstance(badges, list) and loc[1] < len(badges) else None
        name = entry.get("id") if isinstance(entry, dict) else None
        rule = f"badge '{name}'" if name else f"badge #{loc[1] + 1}"
        rest = ".".join(str(p) for p in loc[2:])
        return f"{rule}: field '{rest}'" if rest else rule
    rest = ".".join(str(p) for p in loc[1:])
    return f"rule '{loc[0]}': field '{rest}'" if rest else f"field '{loc[0]}'"


def parse_rules(raw: Any, origin: str) -> RuleSet:
    """A rule set from parsed YAML, or :class:`RuleFileError` naming every problem."""
    try:
        return RuleSet.model_validate(raw)
    except ValidationError as error:
        problems = []
        for problem in error.errors(include_url=False):
            message = problem["msg"].removeprefix("Value error, ")
            if problem["type"] == "extra_forbidden":
                message = "unknown field"
            if problem["loc"]:
                problems.append(f"{_where(raw, problem['loc'])}: {message}")
            else:
                problems.append(message)
        raise RuleFileError(f"{origin}: " + "; ".join(problems)) from None


def load_rules(path: Path) -> RuleSet:
    """The rule set in ``path``, validated."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise RuleFileError(f"{path}: cannot be read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise RuleFileError(f"{path}: not valid YAML ({error})") from None
    return parse_rules(raw, str(path))
