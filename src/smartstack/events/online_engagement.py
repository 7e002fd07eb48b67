"""Writes engagement signals into the feature view ``customer_engagement`` of the online store.

After each batch of engagement updates, one row per changed customer: the last qualifying
week, the run of weeks ending there and the badge count, at the customer's last activity. The
on-demand view ``engagement_signals`` turns them into the streak and the weeks since the last
engagement at request time, so a row stays right as weeks pass without a write. The dbt mart
``customer_engagement_features`` gives the same columns per snapshot for training and for
materialization. Written through ``online_write_batch``, like the other live views.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from feast import FeatureStore
from feast.protos.feast.types.Value_pb2 import Value

from smartstack.engagement.state import CustomerEngagement
from smartstack.events.online_writer import entity_key

LAST_WEEK = "engagement_last_week"
STREAK_RUN = "engagement_streak_run"
BADGE_COUNT = "engagement_badge_count"


class EngagementViewMismatch(RuntimeError):
    """The registered engagement view lacks a feature the writer writes."""


class OnlineEngagementWriter:
    def __init__(self, store: FeatureStore, view_name: str) -> None:
        view = store.get_feature_view(view_name)
        names = {field.name for field in view.features}
        missing = [n for n in (LAST_WEEK, STREAK_RUN, BADGE_COUNT) if n not in names]
        if missing:
            raise EngagementViewMismatch(
                f"the registry's {view_name} view lacks {', '.join(missing)}"
            )
        self._view = view
        self._join_key = view.entity_columns[0].name
        self._config = store.config
        self._online_store = store._get_provider().online_store

    def write(self, states: Iterable[CustomerEngagement]) -> int:
        """One row per state that has an activity; returns how many were written."""
        written = datetime.now(UTC)
        data = [
            (
                entity_key(self._join_key, state.customer_id),
                {
                    LAST_WEEK: Value(int64_val=state.weeks[-1]) if state.weeks else Value(),
                    STREAK_RUN: Value(int64_val=state.streak_run),
                    BADGE_COUNT: Value(int64_val=len(state.badges)),
                },
                state.last_activity_at,
                written,
            )
            for state in states
            if state.last_activity_at is not None
        ]
        if data:
            self._online_store.online_write_batch(self._config, self._view, data, None)
        return len(data)
