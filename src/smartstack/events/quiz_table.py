"""The offline quiz-answer table: every live quiz answer once (``<data_dir>/quiz_answers/``),
which dbt reads as the source ``events.quiz_answers`` beside the raw quiz responses."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from smartstack.data.schema import TIMESTAMP
from smartstack.events.landed import LandedEvents
from smartstack.settings import Settings

QUIZ_ANSWER_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("schema_version", pa.int32()),
        ("customer_id", pa.string()),
        ("answered_at", TIMESTAMP),
        ("favourite_category", pa.string()),
        ("reward_preference", pa.string()),
        ("planning_travel", pa.bool_()),
        ("timezone", pa.string()),
        ("landed_at", TIMESTAMP),
    ]
)


def quiz_answers_dir(settings: Settings) -> Path:
    return settings.data_dir / "quiz_answers"


class QuizAnswerTable(LandedEvents):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory, QUIZ_ANSWER_SCHEMA)

    @classmethod
    def from_settings(cls, settings: Settings) -> QuizAnswerTable:
        return cls(quiz_answers_dir(settings))
