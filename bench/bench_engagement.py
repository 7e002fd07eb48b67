"""Engagement updates in the stream processor: feedback events/s from Kafka to the engagement
store, against the same processor without engagement (the floor) in the same run.

Usage:
  .venv/bin/python bench/bench_engagement.py [--events 200000] [--customers 20000]
      [--stores sqlite,redis] [--redis-url redis://127.0.0.1:6379/15]

Starts a local tansu broker on a free port and publishes N feedback events (clicks, ratings,
redemptions and impressions of C customers over 20 weeks; 5% redelivered copies), applies the
Feast repo into a scratch home, then for each configuration runs the stream processor from an
empty state until it has consumed all N: validation, the feedback table's deduplicating append,
the guardrail's online read for the batch's redeeming customers, the engagement store's batch
update (one SQLite transaction, or WATCH/MULTI per 500 customers on Redis under a fresh key
prefix) and the batch's engagement signals written to the online store. The
clock starts at the first consumed batch (the group join is not counted). Prints one JSON line
per configuration.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import redis
import typer

warnings.filterwarnings("ignore", message="Stream feature views are experimental")

KINDS = ("impression", "click", "click", "rating", "rating", "redeem", "redeem", "redeem")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _events(n: int, customers: int) -> list:  # noqa: ANN401
    from smartstack.events.contracts import FeedbackEvent

    start = datetime(2026, 1, 5, tzinfo=UTC)
    events = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        extra = (
            {"rating": 1 + i % 5, "feature_version": "v", "source": "template"}
            if kind == "rating"
            else {"request_id": f"req-{i}"}
        )
        events.append(
            FeedbackEvent(
                event_id=f"bench-{i}",
                kind=kind,
                customer_id=f"CUST-{i % customers:07d}",
                offer_id=f"OFR-{i % 40:03d}",
                occurred_at=start + timedelta(minutes=i * 20 * 7 * 24 * 60 // n),
                **extra,
            )
        )
    return events + events[: n // 20]  # redelivered copies


def main(
    events: Annotated[int, typer.Option(min=1000)] = 200_000,
    customers: Annotated[int, typer.Option(min=1)] = 20_000,
    stores: Annotated[str, typer.Option(help="Comma-separated: sqlite,redis")] = "sqlite,redis",
    redis_url: Annotated[str, typer.Option()] = "redis://127.0.0.1:6379/15",
) -> None:
    from confluent_kafka import Producer

    from smartstack.data.schema import MERCHANT_CATEGORIES
    from smartstack.engagement.rules import load_rules
    from smartstack.engagement.signals import SpendGuard
    from smartstack.engagement.store import RedisEngagementStore, SqliteEngagementStore
    from smartstack.events.contracts import Topic, serialize
    from smartstack.events.engagement_feed import EngagementFeed
    from smartstack.events.feedback_table import FeedbackTable
    from smartstack.events.interactions import Interactions
    from smartstack.events.kafka import ensure_topics, producer_config, start_broker
    from smartstack.events.online_engagement import OnlineEngagementWriter
    from smartstack.events.online_quiz import OnlineQuizWriter
    from smartstack.events.online_writer import OnlineSpendWriter
    from smartstack.events.processor import StreamProcessor
    from smartstack.events.quiz_table import QuizAnswerTable
    from smartstack.events.recent_spend import RecentSpendState
    from smartstack.featurestore import store
    from smartstack.paths import ENGAGEMENT_RULES
    from smartstack.settings import Settings

    scratch = Path(tempfile.mkdtemp(prefix="bench-engagement-"))
    port = _free_port()
    broker = start_broker("127.0.0.1", port, scratch / "broker.log")
    servers = f"127.0.0.1:{port}"
    try:
        ensure_topics(servers)
        published = _events(events, customers)
        producer = Producer(producer_config(servers, **{"linger.ms": 20}))
        for event in published:
            producer.produce(Topic.feedback.value, serialize(event), key=event.customer_id.encode())
            producer.poll(0)
        assert producer.flush(60) == 0
        rules = load_rules(ENGAGEMENT_RULES)
        categories = {f"OFR-{i:03d}": MERCHANT_CATEGORIES[i % 10] for i in range(40)}
        for name in ["floor", *stores.split(",")]:
            home = scratch / name
            settings = Settings(home=home)
            store.apply(settings)
            fs = store.get_store(settings)
            engagement = None
            if name == "sqlite":
                target = SqliteEngagementStore(home / "engagement.sqlite", rules)
            elif name == "redis":
                prefix = f"bench:{uuid.uuid4().hex}"
                target = RedisEngagementStore(redis.Redis.from_url(redis_url), rules, prefix)
            if name != "floor":
                engagement = EngagementFeed(target, SpendGuard(fs, rules.guardrail), categories.get)
            processor = StreamProcessor(
                servers,
                RecentSpendState(home / "state.sqlite"),
                OnlineSpendWriter(fs),
                Interactions(
                    FeedbackTable(home / "feedback"),
                    QuizAnswerTable(home / "quiz"),
                    OnlineQuizWriter(fs),
                    engagement,
                    OnlineEngagementWriter(fs, "customer_engagement") if engagement else None,
                ),
                group=f"bench-{name}-{time.time_ns()}",
            )
            first: list[float] = []

            def done(totals, first=first) -> bool:  # noqa: ANN001
                if totals.consumed and not first:
                    first.append(time.perf_counter() - totals.seconds_applying)
                return totals.consumed >= len(published)

            totals = processor.run(until=done)
            elapsed = time.perf_counter() - first[0]
            if name == "redis":
                client = redis.Redis.from_url(redis_url)
                for key in client.scan_iter(match=f"{prefix}:*", count=5000):
                    client.delete(key)
            print(
                json.dumps(
                    {
                        "config": name,
                        "events": totals.consumed,
                        "counted": totals.engagement_counted,
                        "seconds": round(elapsed, 2),
                        "events_per_s": round(totals.consumed / elapsed),
                        "batches": totals.batches,
                        "loadavg": os.getloadavg()[0],
                    }
                ),
                flush=True,
            )
    finally:
        broker.terminate()
        broker.wait(10)


if __name__ == "__main__":
    typer.run(main)
