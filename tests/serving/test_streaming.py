"""Real-time loop over a real broker: travel transactions of a dining-heavy customer reach the
online store through the stream processor within seconds and move travel offers up in `/rank`;
so does a quiz answer of "travel"; `POST /feedback` publishes to Kafka, lands once in the
feedback table, becomes a training label, counts toward streaks and badges (except spending,
for a customer whose spend is rising sharply), and answers 503 (storing nothing) while the
broker is down."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from conftest import (
    REQUEST_TIME,
    TEST_SERVING,
    Dataset,
    Registry,
    Server,
    configured,
    free_port,
    register_responsive_champion,
)

from smartstack.events.contracts import Topic, TransactionEvent, serialize
from smartstack.events.feedback_table import FeedbackTable
from smartstack.events.kafka import ensure_topics, producer_config, start_broker
from smartstack.features.dbt import run_dbt
from smartstack.featurestore import store
from smartstack.paths import PROJECT_ROOT
from smartstack.settings import Settings
from tests.conftest import project_environment

pytestmark = pytest.mark.slow

LIVE_DAY = datetime(2026, 6, 30, 9, tzinfo=UTC)  # the morning after the data set's snapshot


@dataclass
class Stack:
    broker: str
    broker_log: Path
    broker_process: subprocess.Popen[bytes] | None
    settings: Settings  # the stack's own copy of the built home
    processor_log: Path
    server: Server | None


def _start_processor(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [
                str(PROJECT_ROOT / ".venv" / "bin" / "smartstack"),
                "events",
                "process",
                "--batch-wait",
                "0.2",
            ],
            env=project_environment(**env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _wait_for(condition, timeout: float, what: str) -> float:  # noqa: ANN001
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"{what} within {timeout}s")


@pytest.fixture(scope="module")
def stack(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A broker, the stream processor and `bentoml serve` on one copy of the built home; all
    stopped at the end, also when the setup fails half-way."""
    root = tmp_path_factory.mktemp("streaming")
    settings = dataset.built.copy(root / "home")
    port = free_port()
    servers = f"127.0.0.1:{port}"
    stack = Stack(servers, root / "broker.log", None, settings, root / "processor.log", None)
    processor = None
    try:
        stack.broker_process = start_broker("127.0.0.1", port, stack.broker_log)
        register_responsive_champion(
            Registry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root), dataset
        )
        env = {"SMARTSTACK_HOME": str(settings.home), "KAFKA_BOOTSTRAP_SERVERS": servers}
        processor = _start_processor(env, stack.processor_log)
        _wait_for(lambda: "assigned" in stack.processor_log.read_text(), 60, "processor joined")
        # No frequency cap: the test ranks the same customer several times.
        stack.server = Server(
            configured(settings, serving={**TEST_SERVING, "frequency_cap": 0}).model_copy(
                update={"kafka_bootstrap_servers": servers}
            ),
            root / "server.log",
        )
        yield stack
    finally:
        if stack.server is not None:
            stack.server.stop()
        if processor is not None:
            processor.send_signal(signal.SIGTERM)
            try:
                processor.wait(20)
            except subprocess.TimeoutExpired:
                processor.kill()
        if stack.broker_process is not None:  # the current one: a test restarts the broker
            stack.broker_process.terminate()
            stack.broker_process.wait(10)


def dining_heavy_customer(dataset: Dataset) -> str:
    """The customer with the most dining and no travel spend in the week before the snapshot,
    among those whose card may receive the most travel offers open at the request time."""
    recent = pd.read_parquet(dataset.data_dir / "features" / "customer_recent_spend.parquet")
    recent = recent[recent.event_timestamp == recent.event_timestamp.max()]
    offers = dataset.offers
    at = pd.Timestamp(REQUEST_TIME)
    travel = offers[
        (offers.merchant_category == "travel") & (offers.valid_from <= at) & (offers.valid_to >= at)
    ]
    open_to = pd.Series(
        [p.strip() for products in travel.eligible_card_products for p in products.split(",")]
    ).value_counts()
    cards = dataset.customers.set_index("customer_id").card_product
    recent = recent.assign(travel_offers=recent.customer_id.map(cards).map(open_to).fillna(0))
    candidates = recent[(recent.recent_spend_travel == 0) & (recent.travel_offers > 0)]
    best = candidates.sort_values(["travel_offers", "recent_spend_dining"]).iloc[-1]
    return str(best.customer_id)


def online_travel_spend(stack: Stack, dataset: Dataset, customer: str) -> float | None:
    row = (
        store.get_store(stack.settings)
        .get_online_features(
            ["customer_recent_spend:recent_spend_travel"], [{"customer_id": customer}]
        )
        .to_dict()
    )
    return row["recent_spend_travel"][0]


def travel_offers(stack: Stack, dataset: Dataset, customer: str) -> dict[str, tuple[int, float]]:
    """(rank, score) of each travel offer in the top 30; one not shown is left out."""
    response = stack.server.rank(customer, k=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tier"] == "model"
    travel = set(dataset.offers[dataset.offers.merchant_category == "travel"].offer_id)
    return {
        o["offer_id"]: (o["rank"], o["score"]) for o in body["offers"] if o["offer_id"] in travel
    }


def test_travel_spend_reaches_the_ranking_within_seconds(stack: Stack, dataset: Dataset) -> None:
    from confluent_kafka import Producer

    customer = dining_heavy_customer(dataset)
    assert online_travel_spend(stack, dataset, customer) == 0.0
    before = travel_offers(stack, dataset, customer)
    assert before, "no travel offer is shown to this customer"

    producer = Producer(producer_config(stack.broker))
    for i, amount in enumerate((640.0, 1210.0, 385.5)):
        event = TransactionEvent(
            transaction_id=9_000_000_000 + i,
            customer_id=customer,
            event_timestamp=LIVE_DAY.replace(minute=10 * i),
            merchant_name="SkyWays Air",
            merchant_category="travel",
            amount=amount,
            currency="USD",
            channel="online",
        )
        producer.produce(Topic.transactions.value, serialize(event), key=customer.encode())
    assert producer.flush(10) == 0
    # A bound for liveness, not a speed check: docs/benchmarks.md has the measured latency.
    _wait_for(
        lambda: online_travel_spend(stack, dataset, customer) == pytest.approx(2235.5),
        30.0,
        "the travel spend reached the online store",
    )
    after = travel_offers(stack, dataset, customer)

    # Recent spend reaches the score only through a feature the champion is monotone in: no
    # travel offer may lose, some must gain, and travel offers as a whole move up.
    assert set(before) <= set(after), (before, after)
    assert all(after[o][1] >= score for o, (_, score) in before.items()), (before, after)
    assert any(after[o][1] > score for o, (_, score) in before.items()), (before, after)

    assert rank_sum(after, before) < rank_sum(before, after), (before, after)


def rank_sum(shown: dict[str, tuple[int, float]], other: dict[str, tuple[int, float]]) -> int:
    """Sum of the ranks of the offers in either ranking (31: not in the top 30)."""
    return sum(shown[o][0] if o in shown else 31 for o in set(shown) | set(other))


def quiz_customer(dataset: Dataset) -> str:
    """A customer other than the dining-heavy one, with features, travel offers open to their
    card, and a latest quiz answer (if any) that is not travel."""
    answers = pd.read_parquet(dataset.data_dir / "features" / "customer_quiz_answers.parquet")
    latest = answers.sort_values("event_timestamp").groupby("customer_id").tail(1)
    travel_fans = set(latest[latest.stated_favourite_category == "travel"].customer_id)
    at = pd.Timestamp(REQUEST_TIME)
    offers = dataset.offers
    travel = offers[
        (offers.merchant_category == "travel") & (offers.valid_from <= at) & (offers.valid_to >= at)
    ]
    open_to_all = {p for products in travel.eligible_card_products for p in products.split(",")}
    taken = {dining_heavy_customer(dataset)}
    spend = pd.read_parquet(dataset.data_dir / "features" / "customer_recent_spend.parquet")
    known = set(spend.customer_id)
    for customer, card in dataset.customers.itertuples(index=False):
        if card in open_to_all and customer in known and customer not in travel_fans | taken:
            return str(customer)
    pytest.fail("no customer to take the quiz")


def engagement(stack: Stack, customer: str) -> dict:
    response = stack.server.http.post("/engagement", json={"customer_id": customer})
    assert response.status_code == 200, response.text
    return response.json()


def quiz_answer(customer: str, favourite: str) -> dict:
    return {
        "event_id": uuid.uuid4().hex,
        "customer_id": customer,
        "answered_at": datetime.now(UTC).isoformat(),
        "favourite_category": favourite,
        "reward_preference": "rewards",
        "planning_travel": favourite == "travel",
        "timezone": "Europe/Berlin",
    }


def post_quiz(stack: Stack, answer: dict) -> None:
    response = stack.server.http.post("/quiz", json=answer)
    assert response.json() == {"event_id": answer["event_id"], "stored": "kafka", "error": None}


def test_a_quiz_answer_moves_travel_offers_up_within_seconds(
    stack: Stack, dataset: Dataset
) -> None:
    """The issue's bound: the next ranking moves within 5 s (a liveness bound; the measured
    latency is in docs/benchmarks.md). A known customer's travel offers gain score through the
    model's `quiz_matches_category` (monotone in the test's champion, so none may lose), and a
    customer the store has no features for gets travel offers first (cold start by the quiz)."""
    customer = quiz_customer(dataset)
    before = travel_offers(stack, dataset, customer)
    assert before, "no travel offer is shown to this customer"
    status = engagement(stack, customer)["quiz"]
    assert status["due"] and {q["id"] for q in status["questions"]} >= {"favourite_category"}

    post_quiz(stack, quiz_answer(customer, "travel"))
    waited = _wait_for(
        lambda: any(
            after[o][1] > score
            for after in [travel_offers(stack, dataset, customer)]
            for o, (_, score) in before.items()
            if o in after
        ),
        5.0,
        "travel offers gained score after the quiz answer",
    )
    print(f"quiz answer to a changed ranking: {waited:.2f}s")
    after = travel_offers(stack, dataset, customer)
    assert set(before) <= set(after), (before, after)
    assert all(after[o][1] >= score for o, (_, score) in before.items()), (before, after)
    assert all(after[o][0] <= rank for o, (rank, _) in before.items()), (before, after)

    status = engagement(stack, customer)
    assert not status["quiz"]["due"] and status["quiz"]["questions"] == []
    assert "quiz_taker" in {b["id"] for b in status["badges"]}

    newcomer = f"NEW-{uuid.uuid4().hex[:12]}"
    assert stack.server.rank(newcomer, k=5).json()["tier"] == "popularity"
    post_quiz(stack, quiz_answer(newcomer, "travel"))
    travel = set(dataset.offers[dataset.offers.merchant_category == "travel"].offer_id)

    def travel_first() -> bool:
        body = stack.server.rank(newcomer, k=5).json()
        return body["tier"] == "cold_start_quiz" and body["offers"][0]["offer_id"] in travel

    _wait_for(travel_first, 5.0, "the newcomer's ranking put travel first")


def test_engagement_counts_feedback_but_not_spending_of_a_rising_spender(
    stack: Stack, dataset: Dataset
) -> None:
    spend = pd.read_parquet(
        dataset.data_dir / "features" / "customer_spend_features.parquet",
        columns=["customer_id", "event_timestamp", "spend_30d", "spend_90d"],
    )
    latest = spend[spend.event_timestamp == spend.event_timestamp.max()]
    ratio = latest.spend_30d / (latest.spend_90d / 3)
    rising = str(latest[ratio > 1.6].customer_id.iloc[0])
    steady = str(latest[(ratio < 1.2) & (latest.spend_30d > 0)].customer_id.iloc[0])
    for customer in (rising, steady):
        for kind in ("redeem", "rating"):
            extra = (
                {"rating": 5, "source": "template", "feature_version": "v"}
                if kind == "rating"
                else {}
            )
            event = {**feedback(kind, customer, "OFR-001", "req-eng", **extra)}
            if kind == "rating":
                del event["request_id"]
            response = stack.server.http.post("/feedback", json=event)
            assert response.status_code == 200, response.text

    _wait_for(lambda: engagement(stack, steady)["badges"], 10, "the steady customer's badge")
    _wait_for(lambda: engagement(stack, rising)["withheld_spending"] == 1, 10, "the guardrail")
    steady_view, rising_view = engagement(stack, steady), engagement(stack, rising)
    assert "first_redemption" in {b["id"] for b in steady_view["badges"]}
    assert "first_redemption" not in {b["id"] for b in rising_view["badges"]}
    assert rising_view["streak"]["longest_weeks"] == 1  # the rating still counts
    progress = {b["id"]: b["value"] for b in rising_view["next_badges"]}
    assert progress["first_redemption"] == 0 and progress["critic"] == 1


def feedback(kind: str, customer: str, offer: str, request: str, **extra: object) -> dict:
    return {
        "event_id": uuid.uuid4().hex,
        "kind": kind,
        "customer_id": customer,
        "offer_id": offer,
        "occurred_at": "2026-06-29T12:00:07.123456Z",
        "request_id": request,
        **extra,
    }


def test_feedback_is_published_landed_once_and_becomes_a_label(
    stack: Stack, dataset: Dataset, tmp_path: Path
) -> None:
    customer = str(dataset.customers.customer_id.iloc[3])
    ranked = stack.server.rank(customer, k=3).json()
    request, offer = ranked["request_id"], ranked["offers"][0]["offer_id"]
    explanation = ranked["offers"][0]["explanation"]
    # An instant of this test's own: other tests' feedback for the same customer and offer
    # (the engagement tests pick their customers from the data) must not share its label row.
    at = {"occurred_at": "2026-06-29T12:00:08.654321Z"}
    events = [
        feedback("impression", customer, offer, request, channel="app", position=1, **at),
        feedback("click", customer, offer, request, **at),
        {
            **feedback("rating", customer, offer, request, rating=4, **at),
            "feature_version": explanation["feature_version"],
            "source": explanation["source"],
            "template_id": explanation["template_id"],
            "model": explanation["model"],
        },
    ]
    for event in [*events, events[1]]:  # the click is retried by the client
        response = stack.server.http.post("/feedback", json=event)
        assert response.status_code == 200, response.text
        assert response.json() == {"event_id": event["event_id"], "stored": "kafka", "error": None}

    table = FeedbackTable.from_settings(stack.settings)
    ids = {e["event_id"] for e in events}

    def landed() -> list[str]:
        return [i for i in table.read().column("event_id").to_pylist() if i in ids]

    _wait_for(lambda: len(landed()) >= len(ids), 10, "the feedback landed")
    assert sorted(landed()) == sorted(ids)

    # The retraining reads it: the impression is a clicked label in the training set.
    data = tmp_path / "data"
    data.mkdir()
    for part in ("raw", "feedback", "manifest.json"):
        (data / part).symlink_to(stack.settings.data_dir / part)
    assert (
        run_dbt(
            ["run", "--select", "+training_impressions"],
            Settings(home=tmp_path / "home", data_dir=data),
        )
        == 0
    )
    labels = pd.read_parquet(data / "features" / "training_impressions.parquet")
    mine = labels[
        (labels.customer_id == customer)
        & (labels.offer_id == offer)
        & (labels.event_timestamp == pd.Timestamp("2026-06-29 12:00:08.654321"))
    ]
    assert mine[["outcome", "clicked", "channel", "position"]].to_dict("records") == [
        {"outcome": "clicked", "clicked": 1, "channel": "app", "position": 1}
    ]


def test_bad_feedback_is_a_400_naming_the_field(sqlite_server: Server) -> None:
    """Each error names the field, by its location or, for a rule across fields, in its
    message (not in the echo of the input, which names every field)."""
    good = feedback("click", "CUST-0000001", "OFR-001", "req-1")
    for change, field in [
        ({"kind": "rating", "rating": 7, "source": "llm", "feature_version": "v"}, "rating"),
        ({"request_id": None}, "request_id"),
        ({"kind": "like"}, "kind"),
        ({"occurred_at": "soon"}, "occurred_at"),
        ({"rating": 3}, "rating"),
    ]:
        response = sqlite_server.http.post("/feedback", json={**good, **change})
        assert response.status_code == 400, (change, response.text)
        errors = response.json()["detail"]
        named = [field in map(str, e["loc"]) or field in e["msg"] for e in errors]
        assert any(named), (change, errors)


def test_feedback_while_the_broker_is_down_is_a_202_kept_in_the_outbox_and_lands(
    stack: Stack, dataset: Dataset
) -> None:
    """No 5xx while the broker is down: the event is kept in the service's outbox (202) and
    sent once the broker is back, with no retry from the client."""
    event = feedback("click", str(dataset.customers.customer_id.iloc[5]), "OFR-002", "req-down")
    stack.broker_process.terminate()
    stack.broker_process.wait(10)

    response = stack.server.http.post("/feedback", json=event)
    assert response.status_code == 202, response.text
    assert response.json() == {"event_id": event["event_id"], "stored": "outbox", "error": None}
    # The outbox's depth is a gauge (the EventOutboxNotDraining alert's input).
    _wait_for(
        lambda: stack.server.metric("smartstack_outbox_events") == 1,
        30,
        "the outbox gauge counted the event",
    )

    # The local broker keeps topics in memory: after its restart they are new and empty. The
    # service's outbox drainer sends the event; the running processor reconnects and lands it.
    host, port = stack.broker.split(":")
    stack.broker_process = start_broker(host, int(port), stack.broker_log)
    ensure_topics(stack.broker)
    table = FeedbackTable.from_settings(stack.settings)
    _wait_for(
        lambda: event["event_id"] in table.read().column("event_id").to_pylist(),
        60,
        "the kept feedback landed after the broker restart",
    )
    _wait_for(
        lambda: stack.server.metric("smartstack_outbox_events") == 0,
        30,
        "the outbox gauge back at 0",
    )


def test_embedded_mode_without_a_broker_writes_feedback_to_the_table(
    sqlite_server: Server, dataset: Dataset
) -> None:
    event = feedback("redeem", str(dataset.customers.customer_id.iloc[7]), "OFR-003", "req-e")
    response = sqlite_server.http.post("/feedback", json=event)
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == "table"
    rows = FeedbackTable.from_settings(sqlite_server.settings).read().to_pylist()
    assert [r["kind"] for r in rows if r["event_id"] == event["event_id"]] == ["redeem"]


def test_engagement_rebuilt_from_the_landed_tables_equals_the_live_state(
    stack: Stack, dataset: Dataset
) -> None:
    customer = str(dataset.customers.customer_id.iloc[11])
    ranked = stack.server.rank(customer, k=2).json()
    offer = ranked["offers"][0]["offer_id"]
    for kind in ("click", "redeem"):
        event = feedback(kind, customer, offer, ranked["request_id"])
        assert stack.server.http.post("/feedback", json=event).status_code == 200
    _wait_for(
        lambda: engagement(stack, customer)["badges"], 10, "the redemption counted in engagement"
    )
    env = {"SMARTSTACK_HOME": str(stack.settings.home), "KAFKA_BOOTSTRAP_SERVERS": stack.broker}
    result = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "smartstack"), "engagement", "rebuild", "--verify"],
        env=project_environment(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "the rebuilt state equals the live state" in result.stderr
