"""Engagement through the stream processor over a real broker: feedback and quiz answers are
counted once however often they are delivered, quiz answers reach the online store and the
quiz table, and replaying the landed tables rebuilds exactly the live state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from smartstack.engagement.rules import load_rules
from smartstack.engagement.signals import SpendGuard
from smartstack.engagement.store import SqliteEngagementStore, differences
from smartstack.events.contracts import FeedbackEvent, QuizAnswerEvent, Topic
from smartstack.events.engagement_feed import EngagementFeed, replay
from smartstack.events.feedback_table import FeedbackTable
from smartstack.events.interactions import Interactions
from smartstack.events.online_engagement import OnlineEngagementWriter
from smartstack.events.online_quiz import OnlineQuizWriter, QuizRow, restore_live_answers
from smartstack.events.online_writer import OnlineSpendWriter
from smartstack.events.processor import StreamProcessor
from smartstack.events.quiz_table import QuizAnswerTable
from smartstack.events.recent_spend import RecentSpendState
from smartstack.featurestore import store
from smartstack.paths import ENGAGEMENT_RULES
from smartstack.settings import Settings
from tests.events.helpers import feedback_event, publish_events
from tests.events.test_processor import run_until

T0 = datetime(2025, 12, 22, 10, tzinfo=UTC)  # a Monday: weeks run over New Year
CATEGORIES = {"OFR-D": "dining", "OFR-T": "travel", "OFR-G": "gas"}


def _redeem(n: int, customer: str, offer: str, at: datetime) -> FeedbackEvent:
    return feedback_event(f"r{n}", "redeem", customer, offer, at)


def _rating(n: int, customer: str, at: datetime) -> FeedbackEvent:
    return feedback_event(f"s{n}", "rating", customer, "OFR-D", at, timezone="America/New_York")


def _answer(n: int, customer: str, favourite: str, at: datetime) -> QuizAnswerEvent:
    return QuizAnswerEvent(
        event_id=f"q{n}", customer_id=customer, answered_at=at, favourite_category=favourite,
        reward_preference="rewards", planning_travel=favourite == "travel",
    )  # fmt: skip


def _feed(home: Path, name: str, settings: Settings) -> EngagementFeed:
    rules = load_rules(ENGAGEMENT_RULES)
    return EngagementFeed(
        SqliteEngagementStore(home / f"{name}.sqlite", rules),
        SpendGuard(store.get_store(settings), rules.guardrail),
        CATEGORIES.get,
    )


def test_stream_engagement_counts_once_and_rebuilds_to_the_live_state(
    broker: str, feast_home: Path
) -> None:
    settings = Settings(home=feast_home)
    feature_store = store.get_store(settings)
    feedback = [
        *(_redeem(n, "CUST-A", f"OFR-{o}", T0 + timedelta(weeks=n)) for n, o in enumerate("DTGD")),
        *(_rating(n, "CUST-B", T0 + timedelta(days=3 * n)) for n in range(6)),
        _redeem(9, "CUST-B", "OFR-UNKNOWN", T0),
    ]
    answers = [
        _answer(1, "CUST-A", "dining", T0),
        _answer(2, "CUST-A", "travel", T0 + timedelta(days=1)),
    ]
    # Every event delivered twice, the second copies in a later batch.
    published = publish_events(broker, Topic.feedback, feedback)
    published += publish_events(broker, Topic.quiz, answers)
    published += publish_events(broker, Topic.feedback, feedback[::2])
    published += publish_events(broker, Topic.quiz, answers)

    live = _feed(feast_home, "live", settings)
    tables = (FeedbackTable(feast_home / "feedback"), QuizAnswerTable(feast_home / "quiz"))
    processor = StreamProcessor(
        broker,
        RecentSpendState(feast_home / "state.sqlite"),
        OnlineSpendWriter(feature_store),
        Interactions(
            *tables,
            OnlineQuizWriter(feature_store),
            live,
            OnlineEngagementWriter(feature_store, "customer_engagement"),
        ),
        group="test-engagement",
        max_batch=7,  # several batches, duplicates across them
        batch_wait=0.2,
    )
    totals = run_until(processor, published)
    assert (totals.feedback_landed, totals.quiz_landed) == (len(feedback), 2)
    assert totals.engagement_counted == len(feedback) + 2

    a, b = live.store.get("CUST-A"), live.store.get("CUST-B")
    assert a is not None and b is not None
    assert a.counts == {"redeem": 4, "quiz": 2} and a.categories == ["dining", "gas", "travel"]
    assert {"first_redemption", "explorer", "four_week_streak", "quiz_taker"} <= set(a.badges)
    assert a.longest_streak == 4  # 2025-W52 … 2026-W03
    assert b.counts == {"rating": 6, "redeem": 1} and b.timezone == "America/New_York"
    assert "critic" in b.badges

    online = feature_store.get_online_features(
        ["customer_quiz:stated_favourite_category"], [{"customer_id": "CUST-A"}]
    ).to_dict()
    assert online["stated_favourite_category"] == ["travel"]  # the newest answer
    signals = feature_store.get_online_features(
        [
            "customer_engagement:engagement_last_week",
            "customer_engagement:engagement_streak_run",
            "customer_engagement:engagement_badge_count",
        ],
        [{"customer_id": "CUST-A"}, {"customer_id": "CUST-B"}],
    ).to_dict()
    assert signals["engagement_last_week"] == [a.weeks[-1], b.weeks[-1]]
    assert signals["engagement_streak_run"] == [4, 3]
    assert signals["engagement_badge_count"] == [len(a.badges), len(b.badges)]

    rebuilt = _feed(feast_home, "rebuilt", settings)
    assert replay(*tables, rebuilt) == len(feedback) + 2
    assert differences(live.store, rebuilt.store) == []
    assert len(list(rebuilt.store.customers())) == 2


def test_a_materialized_older_answer_does_not_hide_a_live_one(feast_home: Path) -> None:
    settings = Settings(home=feast_home)
    feature_store = store.get_store(settings)
    writer = OnlineQuizWriter(feature_store)
    table = QuizAnswerTable(feast_home / "quiz")
    snapshot = T0 + timedelta(days=2)
    live = _answer(7, "CUST-L", "travel", snapshot + timedelta(hours=3))
    Interactions(FeedbackTable(feast_home / "feedback"), table, writer, None).land([], [live])
    # What a materialization of the quiz mart does on SQLite: the snapshot's (older) answer
    # written last.
    writer.write([QuizRow("CUST-L", T0, "dining", False, False)])

    def stated() -> str:
        row = feature_store.get_online_features(
            ["customer_quiz:stated_favourite_category"], [{"customer_id": "CUST-L"}]
        ).to_dict()
        return row["stated_favourite_category"][0]

    assert stated() == "dining"
    assert restore_live_answers(table, writer, snapshot) == 1
    assert stated() == "travel"
    assert restore_live_answers(table, writer, live.answered_at) == 0  # nothing newer
