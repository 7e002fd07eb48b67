"""Writes live quiz answers into the feature view ``customer_quiz`` of the online store.

The stream processor lands each answer for dbt (the next batch run's quiz features) and writes
it here, so the very next ranking uses it: the on-demand ``quiz_matches_category`` and the
cold-start tier both read this view. The write goes through Feast's online-store write API
(``online_write_batch``, the call a push to ``customer_quiz_push`` ends in), for the reason
:mod:`smartstack.events.online_writer` gives: ``FeatureStore.push`` spends tens of milliseconds
converting a DataFrame per call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow.compute as pc
from feast import FeatureStore
from feast.protos.feast.types.Value_pb2 import Value

from smartstack.events.online_writer import ViewWriter, entity_key
from smartstack.events.quiz_table import QuizAnswerTable

QUIZ_VIEW = "customer_quiz"
FAVOURITE = "stated_favourite_category"
PREFERS_REWARDS = "stated_prefers_rewards"
PLANNING_TRAVEL = "stated_planning_travel"


@dataclass(frozen=True)
class QuizRow:
    """One live quiz answer, as the online store keeps it."""

    customer_id: str
    answered_at: datetime  # UTC; the row's event time
    favourite_category: str
    prefers_rewards: bool
    planning_travel: bool

    @classmethod
    def of(cls, answer: Mapping[str, Any]) -> QuizRow:
        """From an answer's fields (``QuizAnswerEvent`` dumped, or a landed row)."""
        return cls(
            answer["customer_id"],
            answer["answered_at"],
            str(answer["favourite_category"]),
            str(answer["reward_preference"]) == "rewards",
            answer["planning_travel"],
        )


class OnlineQuizWriter:
    """Writes each customer's newest answer of a batch to ``customer_quiz``."""

    def __init__(self, store: FeatureStore) -> None:
        self._writer = ViewWriter(
            store, store.get_feature_view(QUIZ_VIEW), (FAVOURITE, PREFERS_REWARDS, PLANNING_TRAVEL)
        )

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
        return self._writer.write_rows(
            [
                (
                    entity_key(self._writer.join_key, row.customer_id),
                    {
                        FAVOURITE: Value(string_val=row.favourite_category),
                        PREFERS_REWARDS: Value(int32_val=int(row.prefers_rewards)),
                        PLANNING_TRAVEL: Value(int32_val=int(row.planning_travel)),
                    },
                    row.answered_at,
                )
                for row in newest.values()
            ]
        )


def restore_live_answers(table: QuizAnswerTable, writer: OnlineQuizWriter, after: datetime) -> int:
    """Write again each customer's newest landed answer given after ``after``.

    A materialization loads the quiz mart, which holds the answers before the data set's
    snapshot; on SQLite the last write wins, so it would put an older answer over a live one
    given since (Redis keeps the newer by its timestamp). Called right after materializing;
    returns how many customers' answers were written."""
    answers = table.read().filter(pc.field("answered_at") > after).to_pylist()
    return writer.write(QuizRow.of(answer) for answer in answers)
