"""Several threads writing engagement signals, quiz answers and consent into one SQLite online
store at once (concurrent ``/feedback`` in the service): every write lands at the first try."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smartstack.engagement.state import CustomerEngagement
from smartstack.events.interactions import Interactions
from smartstack.events.online_engagement import OnlineEngagementWriter
from smartstack.featurestore import store
from smartstack.settings import Settings

T0 = datetime(2026, 6, 29, 9, tzinfo=UTC)
THREADS, ROUNDS, PER_BATCH = 8, 25, 4


def test_concurrent_signal_writes_all_land_without_transaction_errors(
    feast_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    feature_store = store.get_store(Settings(home=feast_home))
    # Two writers over the one store object, as the service's Interactions has them (the quiz
    # and consent writers share the same connection too).
    writers = [OnlineEngagementWriter(feature_store, "customer_engagement") for _ in range(2)]
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def write(thread: int) -> None:
        start.wait()
        for round_ in range(ROUNDS):
            states = [
                CustomerEngagement(
                    f"C{thread}-{i}",
                    weeks=list(range(2900, 2901 + round_)),  # a run of round_ + 1 weeks
                    last_activity_at=T0 + timedelta(minutes=round_),
                )
                for i in range(PER_BATCH)
            ]
            try:
                # Directly, not through the retrying wrapper: a retry would hide the error.
                writers[thread % 2].write(states)
            except BaseException as error:  # noqa: BLE001 - collected and asserted on below
                errors.append(error)

    with caplog.at_level(logging.WARNING):
        threads = [threading.Thread(target=write, args=(t,)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        # And through the service's retrying path, logging nothing.
        last = CustomerEngagement("C-last", weeks=[1], last_activity_at=T0)
        assert Interactions._write_signals(writers[0], [last]) == 1

    assert not any(t.is_alive() for t in threads)
    assert [str(e) for e in errors] == []
    assert "transaction" not in caplog.text
    customers = [f"C{t}-{i}" for t in range(THREADS) for i in range(PER_BATCH)]
    found = feature_store.get_online_features(
        ["customer_engagement:engagement_last_week", "customer_engagement:engagement_streak_run"],
        [{"customer_id": c} for c in customers],
    ).to_dict()
    # Each customer's last round is what the store holds: every batch committed whole.
    assert found["engagement_last_week"] == [2900 + ROUNDS - 1] * len(customers)
    assert found["engagement_streak_run"] == [ROUNDS] * len(customers)
