"""The monthly quiz: its questions as data, and when a customer's quiz is due.

The questions (``engagement/quiz.yaml``) are what the app shows; the answers travel as
``QuizAnswerEvent`` (their own topic and contract), whose fields are the question ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smartstack.engagement.rules import RuleFileError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Strict):
    value: str | bool
    label: str = Field(min_length=1, max_length=80)


class Question(_Strict):
    id: str = Field(pattern=r"^[a-z_]+$")
    text: str = Field(min_length=1, max_length=200)
    options: tuple[Option, ...] = Field(min_length=2)


class Quiz(_Strict):
    version: int = Field(ge=1)
    questions: tuple[Question, ...] = Field(min_length=1)


def load_quiz(path: Path) -> Quiz:
    """The quiz in ``path``, or :class:`RuleFileError` naming the question and field."""
    try:
        raw = yaml.safe_load(path.read_text())
        return Quiz.model_validate(raw)
    except OSError as error:
        raise RuleFileError(f"{path}: cannot be read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise RuleFileError(f"{path}: not valid YAML ({error})") from None
    except ValidationError as error:
        problems = []
        for problem in error.errors(include_url=False):
            loc = problem["loc"]
            where = ".".join(str(p) for p in loc)
            if len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int):
                entries = raw.get("questions") if isinstance(raw, dict) else None
                entry = entries[loc[1]] if isinstance(entries, list) else None
                name = entry.get("id") if isinstance(entry, dict) else f"#{loc[1] + 1}"
                where = f"question '{name}': field '{'.'.join(str(p) for p in loc[2:])}'"
            problems.append(f"{where}: {problem['msg']}")
        raise RuleFileError(f"{path}: " + "; ".join(problems)) from None


def quiz_due(last_answered: datetime | None, now: datetime, interval_days: int) -> bool:
    """Never answered, or answered more than ``interval_days`` ago."""
    return last_answered is None or now - last_answered > timedelta(days=interval_days)
