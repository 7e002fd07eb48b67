"""`smartstack events …` and `smartstack feedback summary` as people run them."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds

from smartstack.datasets.synthetic.generator import GeneratorConfig, generate
from smartstack.events.contracts import Topic, parse
from smartstack.events.feedback_table import FeedbackTable
from smartstack.messaging import Explanation, Source, rating_event
from smartstack.paths import PROJECT_ROOT
from tests.events.helpers import read_topic

SMARTSTACK = str(PROJECT_ROOT / ".venv" / "bin" / "smartstack")


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    return subprocess.run(
        [SMARTSTACK, *args], env={**clean, **env}, capture_output=True, text=True, timeout=180
    )


def test_replay_streams_the_generated_history_in_time_order(broker: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate(GeneratorConfig(customers=40, seed=3), data, workers=1)
    done = run(
        "events", "replay", "--rate", "0",
        SMARTSTACK_HOME=str(tmp_path / "home"), SMARTSTACK_DATA_DIR=str(data),
        KAFKA_BOOTSTRAP_SERVERS=broker,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for topic, table in ((Topic.transactions, "transactions"), (Topic.clickstream, "clickstream")):
        rows = ds.dataset(data / "raw" / table).count_rows()
        messages = read_topic(broker, topic, expected=rows)
        assert len(messages) == rows
        stamps: dict[int, list] = {}
        for message in messages:
            event = parse(topic, message.value())  # every replayed event meets its contract
            assert message.key().decode() == event.customer_id
            stamps.setdefault(message.partition(), []).append(event.event_timestamp)
        assert all(s == sorted(s) for s in stamps.values()), f"{topic} out of time order"


def test_without_a_broker_or_data_the_commands_say_what_to_do(tmp_path: Path) -> None:
    done = run("events", "process", SMARTSTACK_HOME=str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no Kafka broker configured: set KAFKA_BOOTSTRAP_SERVERS" in " ".join(
        done.stderr.split()
    )
    done = run("events", "replay", SMARTSTACK_HOME=str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no transactions, clickstream data in" in done.stderr
    done = run("events", "replay", "--topic", "orders", SMARTSTACK_HOME=str(tmp_path))
    assert done.returncode == 2 and "unknown topic orders" in done.stderr


def test_feedback_summary_reads_the_ratings_from_the_feedback_table(tmp_path: Path) -> None:
    table = FeedbackTable(tmp_path / "data" / "feedback")
    text = Explanation(
        customer_id="C1", offer_id="OFR-001", feature_version="fv", text="…",
        source=Source.template, template_id="trend_up/1",
    )  # fmt: skip
    table.append([rating_event(text, r) for r in (4, 5, 5)])
    done = run("feedback", "summary", SMARTSTACK_HOME=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "source\ttemplate_id\tmodel\tmean_rating\tcount",
        "template\ttrend_up/1\t-\t4.667\t3",
    ]


def test_generated_rows_meet_the_contracts(small_dataset: Path) -> None:
    """The generator's output is a valid source for the streams (checked on every row)."""
    from smartstack.events.contracts import CONTRACTS

    counts: Counter[str] = Counter()
    for table, topic in (("transactions", Topic.transactions), ("clickstream", Topic.clickstream)):
        for batch in ds.dataset(small_dataset / "raw" / table).to_batches():
            for row in batch.to_pylist():
                CONTRACTS[topic].model_validate(row)
                counts[table] += 1
    assert counts["transactions"] > 10_000 and counts["clickstream"] > 10_000
