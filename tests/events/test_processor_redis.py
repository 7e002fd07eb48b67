"""The stream processor writing to a Redis online store (a private redis-server): streamed spend
and quiz answers land in Redis, and both service-side reads see them: Feast's online read and the
ranking service's one-round-trip reader (:mod:`smartstack.featurestore.rows`)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis as redis_client

from smartstack.data.schema import MERCHANT_CATEGORIES
from smartstack.events.contracts import QuizAnswerEvent, Topic, serialize
from smartstack.events.feedback_table import FeedbackTable
from smartstack.events.interactions import Interactions
from smartstack.events.online_quiz import OnlineQuizWriter
from smartstack.events.online_writer import STREAM_VIEW, OnlineSpendWriter
from smartstack.events.processor import StreamProcessor
from smartstack.events.quiz_table import QuizAnswerTable
from smartstack.events.recent_spend import RecentSpendState
from smartstack.featurestore import store
from smartstack.featurestore.rows import ViewRead, entity_rows
from smartstack.settings import OnlineStore, Settings
from tests.conftest import RedisProcess
from tests.events.helpers import publish, publish_events, transaction
from tests.events.test_processor import online_spend

T0 = datetime(2026, 6, 30, 8, tzinfo=UTC)


@pytest.fixture
def redis_settings(redis: RedisProcess, tmp_path: Path) -> Settings:
    """A home whose Feast online store is the private redis-server (its db 3: nothing else's)."""
    settings = Settings(home=tmp_path / "home").model_copy(
        update={
            "online_store": OnlineStore.redis,
            "redis_url": f"redis://127.0.0.1:{redis.port}/3",
        }
    )
    store.apply(settings)
    return settings


def test_streamed_features_land_in_redis_and_the_service_reads_them(
    broker: str, redis: RedisProcess, redis_settings: Settings
) -> None:
    home = redis_settings.home
    events = [
        transaction(1, "CUST-R1", T0, "dining", 30.0),
        transaction(2, "CUST-R1", T0 + timedelta(hours=1), "travel", 200.0),
        transaction(3, "CUST-R2", T0, "groceries", 55.5),
        transaction(4, "CUST-R1", T0 + timedelta(days=8), "dining", 10.0),  # evicts the first two
    ]
    published = publish_events(broker, Topic.transactions, events)
    answer = QuizAnswerEvent(
        event_id="q-r", customer_id="CUST-R2", answered_at=T0, favourite_category="travel",
        reward_preference="rewards", planning_travel=True,
    )  # fmt: skip
    published += publish(broker, Topic.quiz, [("CUST-R2", serialize(answer))])

    feature_store = store.get_store(redis_settings)
    assert feature_store.config.online_store.type == "redis"
    processor = StreamProcessor(
        broker,
        RecentSpendState(home / "state.sqlite"),
        OnlineSpendWriter(feature_store),
        Interactions(
            FeedbackTable(home / "feedback"),
            QuizAnswerTable(home / "quiz"),
            OnlineQuizWriter(feature_store),
            None,
        ),
        group="test-redis",
        batch_wait=0.2,
    )
    thread = threading.Thread(target=processor.run, args=(lambda t: t.consumed >= published,))
    thread.start()
    thread.join(120)
    if thread.is_alive():
        processor.stop()
        thread.join(30)
    processor.interactions.close()
    assert processor.totals.consumed == published
    assert (processor.totals.transactions, processor.totals.quiz_landed) == (4, 1)

    # In Redis (db 3), and nowhere else: no SQLite online store was made.
    client = redis_client.Redis(port=redis.port, db=3)
    assert client.dbsize() >= 2
    client.close()
    assert not redis_settings.sqlite_online_path.exists()

    # Feast's online read.
    r1, r2 = online_spend(redis_settings, "CUST-R1"), online_spend(redis_settings, "CUST-R2")
    assert r1["dining"] == pytest.approx(10.0) and r1["travel"] == 0.0
    assert r2["groceries"] == pytest.approx(55.5) and r2["dining"] == 0.0
    quiz = feature_store.get_online_features(
        ["customer_quiz:stated_favourite_category"], [{"customer_id": "CUST-R2"}]
    ).to_dict()
    assert quiz["stated_favourite_category"] == ["travel"]

    # The serving reader, one round trip to Redis.
    names = [f"recent_spend_{c}" for c in MERCHANT_CATEGORIES]
    view = feature_store.get_stream_feature_view(STREAM_VIEW)
    reader = entity_rows(feature_store.config, [ViewRead(view, "customer_id", names, True)], 5.0)
    try:
        (v1, _), (v2, _), (nobody, _) = reader.read(["CUST-R1", "CUST-R2", "CUST-NONE"])
    finally:
        reader.close()
    assert v1["recent_spend_dining"] == pytest.approx(10.0) and v1["recent_spend_travel"] == 0.0
    assert v2["recent_spend_groceries"] == pytest.approx(55.5)
    assert all(value is None for value in nobody.values())
