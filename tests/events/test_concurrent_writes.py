"""Several threads writing engagement signals, quiz answers and consent into one SQLite online
store at once (concurrent ``/feedback`` in the service): every write lands at the first try."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smartstack.engagement.rules import load_rules
from smartstack.engagement.signals import SpendGuard
from smartstack.engagement.state import CustomerEngagement
from smartstack.engagement.store import SqliteEngagementStore
from smartstack.events.contracts import QuizAnswerEvent
from smartstack.events.engagement_feed import EngagementFeed
from smartstack.events.feedback_table import FeedbackTable
from smartstack.events.interactions import Interactions
from smartstack.events.online_engagement import OnlineEngagementWriter
from smartstack.events.online_quiz import OnlineQuizWriter
from smartstack.events.producers import DirectEventWriter
from smartstack.events.quiz_table import QuizAnswerTable
from smartstack.featurestore import store
from smartstack.paths import ENGAGEMENT_RULES
from smartstack.settings import Settings
from tests.events.helpers import feedback_event

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


def test_concurrent_feedback_through_the_embedded_path_lands_and_counts_every_event(
    feast_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What concurrent ``POST /feedback`` does without a broker: each request thread lands its
    event, counts it in the engagement store and writes the customer's signals online."""
    settings = Settings(home=feast_home)
    feature_store = store.get_store(settings)
    rules = load_rules(ENGAGEMENT_RULES)
    interactions = Interactions(
        FeedbackTable(feast_home / "feedback"),
        QuizAnswerTable(feast_home / "quiz"),
        OnlineQuizWriter(feature_store),
        EngagementFeed(
            SqliteEngagementStore(feast_home / "engagement.sqlite", rules),
            SpendGuard(feature_store, rules.guardrail),
            {"OFR-001": "dining"}.get,
        ),
        OnlineEngagementWriter(feature_store, "customer_engagement"),
    )
    writer = DirectEventWriter(interactions)
    customers = [f"CUST-{t}" for t in range(THREADS)]
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def post(customer: str) -> None:
        start.wait()
        for n in range(ROUNDS):
            # Each rating, and a quiz answer (landed under another lock, written online too).
            events = [
                feedback_event(f"{customer}-{n}", "rating", customer, "OFR-001", T0),
                QuizAnswerEvent(
                    event_id=f"{customer}-q{n}", customer_id=f"Q-{customer}", answered_at=T0,
                    favourite_category="dining", reward_preference="rewards",
                    planning_travel=False,
                ),
            ]  # fmt: skip
            for event in events:
                try:
                    writer.send(event)
                except BaseException as error:  # noqa: BLE001 - collected and asserted on below
                    errors.append(error)

    with caplog.at_level(logging.WARNING):
        threads = [threading.Thread(target=post, args=(c,)) for c in customers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)

    assert not any(t.is_alive() for t in threads)
    assert [str(e) for e in errors] == []
    assert "transaction" not in caplog.text  # not even retried
    assert interactions.feedback.read().num_rows == THREADS * ROUNDS
    assert interactions.quiz.read().num_rows == THREADS * ROUNDS
    assert interactions.engagement is not None
    for customer in customers:
        state = interactions.engagement.store.get(customer)
        assert state is not None and state.counts == {"rating": ROUNDS}
    found = feature_store.get_online_features(
        ["customer_engagement:engagement_last_week"], [{"customer_id": c} for c in customers]
    ).to_dict()
    assert found["engagement_last_week"] == [state.weeks[-1]] * THREADS  # one week: T0's
    interactions.close()
