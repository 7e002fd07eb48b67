"""Customer ratings of explanations (1–5), and their summary for the ML team.

Each rating records what wrote the text (LLM model, or template angle/phrasing), so the team can
compare the mean rating of each template and model and retire the weak ones. SQLite rather than
DuckDB: the serving process writes one row per rating while analysts read the same file, and
SQLite (in WAL mode) allows that where a DuckDB file takes a single writer lock.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from smartstack.messaging.explanation import Explanation, Source
from smartstack.settings import Settings, get_settings

MIN_RATING, MAX_RATING = 1, 5

_SCHEMA = """
create table if not exists explanation_ratings (
    rated_at text not null,
    customer_id text not null,
    offer_id text not null,
    feature_version text not null,
    rating integer not null check (rating between 1 and 5),
    source text not null,
    template_id text,
    model text
)
"""


def default_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).home / "feedback" / "explanations.sqlite"


def validate_rating(rating: object) -> int:
    """The rating as an int, or a ValueError that says what is accepted."""
    whole = isinstance(rating, int) and not isinstance(rating, bool)
    if not whole or not MIN_RATING <= rating <= MAX_RATING:  # type: ignore[operator]
        raise ValueError(
            f"rating must be a whole number from {MIN_RATING} to {MAX_RATING}, got {rating!r}"
        )
    return int(rating)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RatingSummary:
    """Mean rating and count for one writer of explanations."""

    source: str
    template_id: str | None
    model: str | None
    mean_rating: float
    count: int


class FeedbackStore:
    """Appends ratings to a SQLite table under ``<home>/feedback/``; thread-safe."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute(_SCHEMA)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> FeedbackStore:
        return cls(default_path(settings))

    def record(
        self,
        *,
        customer_id: str,
        offer_id: str,
        rating: int,
        source: Source | str,
        template_id: str | None = None,
        model: str | None = None,
        feature_version: str = "",
        rated_at: datetime | None = None,
    ) -> None:
        """Store one rating, as the feedback endpoint receives it (the ids /rank returned)."""
        value = validate_rating(rating)
        source = Source(source)
        row = (
            (rated_at or datetime.now(UTC)).isoformat(),
            customer_id,
            offer_id,
            feature_version,
            value,
            source.value,
            template_id if source == Source.template else None,
            model if source == Source.llm else None,
        )
        with self._lock:
            self._db.execute("insert into explanation_ratings values (?, ?, ?, ?, ?, ?, ?, ?)", row)

    def record_explanation(self, explanation: Explanation, rating: int) -> None:
        """Store a rating of an explanation object.

        The model is kept only for LLM text: template text shown as a fallback was written by
        the template, whatever model was configured.
        """
        self.record(
            customer_id=explanation.customer_id,
            offer_id=explanation.offer_id,
            rating=rating,
            source=explanation.source,
            template_id=explanation.template_id,
            model=explanation.model,
            feature_version=explanation.feature_version,
        )

    def summarize(self) -> list[RatingSummary]:
        """Mean rating and count per source, template and model, most rated first."""
        with self._lock:
            rows = self._db.execute(
                "select source, template_id, model, avg(rating), count(*) "
                "from explanation_ratings group by source, template_id, model "
                "order by count(*) desc, source, template_id, model"
            ).fetchall()
        return [RatingSummary(s, t, m, round(mean, 3), n) for s, t, m, mean, n in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
