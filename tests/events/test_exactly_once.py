"""Kill the stream processor (SIGKILL) mid-stream and restart it: every event counts once in the
online features and in the feedback table."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from smartstack.data.schema import MERCHANT_CATEGORIES
from smartstack.events.contracts import Topic
from smartstack.events.feedback_table import FeedbackTable
from smartstack.featurestore import store
from smartstack.paths import PROJECT_ROOT
from smartstack.settings import Settings
from tests.events.helpers import click, expected_recent_spend, publish_events, transaction

CUSTOMERS = 200
TRANSACTIONS = 24_000
FEEDBACK = 1_500
REDELIVERED = 300  # events a producer sent twice (a retry after a lost acknowledgement)
T0 = datetime(2026, 6, 1, tzinfo=UTC)


def consumed(state: Path) -> int:
    """Messages the processor has committed, from its state file (0 before it exists)."""
    if not state.exists():
        return 0
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
        try:
            (total,) = db.execute("select coalesce(sum(next_offset), 0) from consumed_offsets")
        except sqlite3.OperationalError:  # tables not created yet
            return 0
    return total[0] if isinstance(total, tuple) else total


def start_processor(home: Path, broker: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SMARTSTACK_HOME": str(home),
        "KAFKA_BOOTSTRAP_SERVERS": broker,
    }
    with log.open("ab") as output:
        return subprocess.Popen(
            [
                str(PROJECT_ROOT / ".venv" / "bin" / "smartstack"),
                "events",
                "process",
                "--no-seed",
                "--max-batch",
                "400",
                "--batch-wait",
                "0.1",
                "--group",
                "exactly-once",
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def wait_until(condition, timeout: float, what: str, log: Path) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"{what} within {timeout}s; processor log:\n{log.read_text()[-3000:]}")


def test_a_killed_processor_restarts_without_losing_or_double_counting(
    broker: str, feast_home: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    customers = [f"CUST-K{i:04d}" for i in range(CUSTOMERS)]
    # Five days: every transaction stays inside the final 7-day window, so one lost or
    # double-counted anywhere in the stream changes a feature.
    minutes = np.sort(rng.integers(0, 5 * 24 * 60, TRANSACTIONS))
    transactions = [
        transaction(
            i,
            customers[rng.integers(CUSTOMERS)],
            T0 + timedelta(minutes=int(m)),
            MERCHANT_CATEGORIES[rng.integers(len(MERCHANT_CATEGORIES))],
            round(float(rng.lognormal(3, 1)), 2),
        )
        for i, m in enumerate(minutes)
    ]
    feedback = [click(f"fb-{i}", customers[i % CUSTOMERS], "OFR-001", T0) for i in range(FEEDBACK)]
    total = publish_events(broker, Topic.transactions, transactions + transactions[-REDELIVERED:])
    total += publish_events(broker, Topic.feedback, feedback + feedback[:REDELIVERED])
    state = feast_home / "events" / "stream_state.sqlite"
    log = tmp_path / "processor.log"

    first = start_processor(feast_home, broker, log)
    try:
        wait_until(lambda: consumed(state) >= total // 4, 90, "no progress", log)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    at_kill = consumed(state)
    assert at_kill < total, "the processor finished before it was killed: nothing was tested"

    second = start_processor(feast_home, broker, log)
    try:
        wait_until(lambda: consumed(state) >= total, 120, "not every event applied", log)
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if second.poll() is None:
            second.kill()
    assert "offsets committed" in log.read_text()  # the graceful shutdown line

    settings = Settings(home=feast_home)
    names = [f"customer_recent_spend:recent_spend_{c}" for c in MERCHANT_CATEGORIES]
    online = (
        store.get_store(settings)
        .get_online_features(names, [{"customer_id": c} for c in customers])
        .to_df()
        .set_index("customer_id")
    )
    expected = expected_recent_spend(transactions)
    for category in MERCHANT_CATEGORIES:
        assert online.loc[expected.index, f"recent_spend_{category}"].to_numpy() == pytest.approx(
            expected[category].to_numpy(), rel=1e-9, abs=1e-9
        ), category

    landed = FeedbackTable(feast_home / "data" / "feedback")
    ids = landed.read().column("event_id").to_pylist()
    assert len(ids) == len(set(ids)) == FEEDBACK
    assert set(ids) == {e.event_id for e in feedback}
