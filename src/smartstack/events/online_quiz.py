"""Writes live quiz answers into the feature view ``customer_quiz`` of the online store.

The stream processor lands each answer for dbt (the next batch run's quiz features) and writes
it here, so the very next ranking uses it: the on-demand ``quiz_matches_category`` and the
cold-start tier both read this view. The write goes through Feast's online-store write API
(``online_write_batch``, the call a push to ``customer_quiz_push`` ends in), for the reason
:mod:`smartstack.events.online_writer` gives: ``FeatureStore.push`` spends tens of milliseconds
converting a DataFrame per call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow.compute as pc
from feast import FeatureStore
from feast.protos.feast.types.Value_pb2 import Value

from smartstack.events.online_writer import entity_key
from smartstack.events.quiz_table import QuizAnswerTable

QUIZ_VIEW = "customer_quiz"
FAVOURITE = "stated_favourite_category"
PREFERS_REWARDS = "stated_prefers_rewards"
PLANNING_TRAVEL = "stated_planning_travel"


class QuizViewMismatch(RuntimeError):
    """The registered quiz view lacks a feature the writer writes."""


@dataclass(frozen=True)
class QuizRow:
    """One live quiz answer, as the online store keeps it."""

    customer_id: str
    answered_at: datetime  # UTC; the row's event time
    favourite_category: str
    prefers_rewards: bool
    planning_travel: bool


class OnlineQuizWriter:
    """Writes each customer's newest answer of a batch to ``customer_quiz``."""

    def __init__(self, store: FeatureStore) -> None:
        view = store.get_feature_view(QUIZ_VIEW)
        names = {field.name for field in view.features}
        missing = [n for n in (FAVOURITE, PREFERS_REWARDS, PLANNING_TRAVEL) if n not in names]
        if missing:
            raise QuizViewMismatch(f"the registry's {QUIZ_VIEW} view lacks {', '.join(missing)}")
        self._view = view
        self._join_key = view.entity_columns[0].name
        self._config = store.config
        self._online_store = store._get_provider().online_store

    def write(self, rows: Iterable[QuizRow]) -> int:
        """Write the rows in one call; returns how many were written.

        The online store keeps one row per customer and the last write wins, so of a customer's
        answers in one batch only the newest is written, whatever order they came in.
        """
        newest: dict[str, QuizRow] = {}
        for row in rows:
            kept = newest.get(row.customer_id)
            if kept is None or row.answered_at > kept.answered_at:
                newest[row.customer_id] = row
        written = datetime.now(UTC)
        data = [
            (
                entity_key(self._join_key, row.customer_id),
                {
                    FAVOURITE: Value(string_val=row.favourite_category),
                    PREFERS_REWARDS: Value(int32_val=int(row.prefers_rewards)),
                    PLANNING_TRAVEL: Value(int32_val=int(row.planning_travel)),
                },
                row.answered_at,
                written,
            )
            for row in newest.values()
        ]
        if data:
            self._online_store.online_write_batch(self._config, self._view, data, None)
        return len(data)


def restore_live_answers(table: QuizAnswerTable, writer: OnlineQuizWriter, after: datetime) -> int:
    """Write again each customer's newest landed answer given after ``after``.

    A materialization loads the quiz mart, which holds the answers before the data set's
    snapshot; on SQLite the last write wins, so it would put an older answer over a live one
    given since (Redis keeps the newer by its timestamp). Called right after materializing;
    returns how many customers' answers were written."""
    frame = table.read().filter(pc.field("answered_at") > after).to_pylist()
    return writer.write(
        QuizRow(
            row["customer_id"],
            row["answered_at"],
            row["favourite_category"],
            row["reward_preference"] == "rewards",
            row["planning_travel"],
        )
        for row in frame
    )
