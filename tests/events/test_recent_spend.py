"""The recent-spend window: its definition, duplicates, late events and restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smartstack.data.schema import MERCHANT_CATEGORIES
from smartstack.events.recent_spend import BatchChanges, RecentSpendState
from tests.events.helpers import transaction

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
TRAVEL = MERCHANT_CATEGORIES.index("travel")
DINING = MERCHANT_CATEGORIES.index("dining")


def spend(state: RecentSpendState, customer: str) -> dict[str, float]:
    rows = {c: values for c, _, values in state.rows(_all_touched(state))}
    return {MERCHANT_CATEGORIES[k]: v for k, v in rows[customer].items() if v}


def _all_touched(state: RecentSpendState) -> BatchChanges:
    changes = BatchChanges()
    changes.touched = {c: set(range(len(MERCHANT_CATEGORIES))) for c in state.customers}
    return changes


@pytest.fixture
def state(tmp_path: Path) -> RecentSpendState:
    return RecentSpendState(tmp_path / "state.sqlite")


def test_spend_covers_the_seven_days_up_to_the_newest_transaction(state: RecentSpendState) -> None:
    changes = BatchChanges()
    state.apply(
        [
            transaction(1, "C1", T0, "dining", 40.0),
            transaction(2, "C1", T0 + timedelta(days=3), "dining", 10.0),
            transaction(3, "C1", T0 + timedelta(days=7), "travel", 500.0),  # T0 is now 7 d old
        ],
        changes,
    )
    assert spend(state, "C1") == {"dining": 10.0, "travel": 500.0}
    assert changes.evicted == 1  # the dining spend of T0
    (_, as_of, _), = state.rows(changes)
    assert as_of == T0 + timedelta(days=7, microseconds=1)


def test_a_customers_first_transaction_writes_the_whole_row(state: RecentSpendState) -> None:
    first = BatchChanges()
    state.apply([transaction(1, "C1", T0, "dining", 40.0)], first)
    (_, _, row), = state.rows(first)
    assert len(row) == len(MERCHANT_CATEGORIES) and row[DINING] == 40.0 and row[TRAVEL] == 0.0

    later = BatchChanges()
    state.apply([transaction(2, "C1", T0 + timedelta(hours=1), "travel", 9.0)], later)
    (_, _, row), = state.rows(later)
    assert row == {TRAVEL: 9.0}  # only what changed


def test_duplicates_and_events_older_than_every_window_change_nothing(
    state: RecentSpendState,
) -> None:
    state.apply([transaction(1, "C1", T0 + timedelta(days=10), "travel", 100.0)], BatchChanges())
    changes = BatchChanges()
    state.apply(
        [
            transaction(1, "C1", T0 + timedelta(days=10), "travel", 100.0),
            transaction(2, "C1", T0, "dining", 70.0),
        ],
        changes,
    )
    assert (changes.duplicates, changes.too_old, changes.touched) == (1, 1, {})
    assert spend(state, "C1") == {"travel": 100.0}


def test_a_late_transaction_inside_the_window_still_counts(state: RecentSpendState) -> None:
    state.apply([transaction(1, "C1", T0 + timedelta(days=2), "travel", 100.0)], BatchChanges())
    state.apply([transaction(2, "C1", T0, "travel", 5.0)], BatchChanges())
    assert spend(state, "C1") == {"travel": 105.0}


def test_the_committed_state_and_offsets_survive_a_restart(tmp_path: Path) -> None:
    state = RecentSpendState(tmp_path / "state.sqlite")
    changes = BatchChanges()
    state.apply(
        [transaction(i, f"C{i % 3}", T0 + timedelta(hours=i), "gas", 1.0 + i) for i in range(30)],
        changes,
    )
    state.commit(changes, {("smartstack.transactions.v1", 0): 30})
    uncommitted = BatchChanges()
    state.apply([transaction(99, "C1", T0 + timedelta(days=2), "gas", 1000.0)], uncommitted)
    state.close()

    restarted = RecentSpendState(tmp_path / "state.sqlite")

    assert restarted.offsets == {("smartstack.transactions.v1", 0): 30}
    expected = {c: sum(1.0 + i for i in range(30) if f"C{i % 3}" == c) for c in ("C0", "C1", "C2")}
    assert {c: spend(restarted, c)["gas"] for c in expected} == expected
