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

from feast import FeatureStore
from feast.protos.feast.types.Value_pb2 import Value

from smartstack.engagement.state import CustomerEngagement
from smartstack.events.online_writer import ViewWriter, entity_key

LAST_WEEK = "engagement_last_week"
STREAK_RUN = "engagement_streak_run"
BADGE_COUNT = "engagement_badge_count"


class OnlineEngagementWriter:
    def __init__(self, store: FeatureStore, view_name: str) -> None:
        self._writer = ViewWriter(
            store, store.get_feature_view(view_name), (LAST_WEEK, STREAK_RUN, BADGE_COUNT)
        )

    def write(self, states: Iterable[CustomerEngagement]) -> int:
        """One row per state that has an activity; returns how many were written."""
        return self._writer.write_rows(
            [
                (
                    entity_key(self._writer.join_key, state.customer_id),
                    {
                        LAST_WEEK: Value(int64_val=state.weeks[-1]) if state.weeks else Value(),
                        STREAK_RUN: Value(int64_val=state.streak_run),
                        BADGE_COUNT: Value(int64_val=len(state.badges)),
                    },
                    state.last_activity_at,
                )
                for state in states
                if state.last_activity_at is not None
            ]
        )
