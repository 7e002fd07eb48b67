"""The chaos run (bench/chaos.py) in CI: 60 seconds at 100 /rank and 10 /feedback requests a
second (the full run is 5 minutes at 200 and 20, docs/benchmarks.md) against the real stack
(two service workers, a private Redis, the broker, MLflow, the LLM endpoint and the stream
processor) while each fault starts and ends on the schedule.

It asserts the behaviour only: no 5xx from /rank or /feedback, every accepted feedback event in
the feedback table exactly once, every /rank answered and naming its tier. Latency depends on
the machine: the table (printed at the end of the session, see tests/conftest.py) reports it, nothing
asserts it.

/feedback answers no 5xx while the broker restarts either: the service keeps what the broker
cannot take in its outbox (202) and sends it later (smartstack.events.outbox).

One gap is known and expected (the test reports it as xfail, and fails on anything else): the
local broker keeps its log in memory, so an event it acknowledged while shutting down, not yet
consumed, is gone when it restarts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CHAOS_TABLE, BuiltHome, project_environment

ROOT = Path(__file__).resolve().parents[2]
RATES = ("--rank-rate", "100", "--feedback-rate", "10")


@pytest.mark.slow
def test_chaos_run_meets_the_behavioural_goals(
    built: BuiltHome, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # A copy: the run moves the champion's artifact and alias, and lands feedback.
    home = built.copy(tmp_path / "home").home
    out = tmp_path / "chaos.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), "--home", str(home)]
        + ["--duration", "60", *RATES, "--drain-timeout", "90", "--out", str(out)],
        env=project_environment(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    result = json.loads(out.read_text())
    request.node.user_properties.append((CHAOS_TABLE, result["table"]))
    phases = {row["phase"]: row for row in result["phases"]}
    rank, feedback = phases["all"]["rank"], phases["all"]["feedback"]
    reconciliation = result["reconciliation"]
    assert not [e for e in result["edges"] if e["error"]], "a fault could not be applied"
    assert rank["requests"] > 0 and reconciliation["accepted"] > 0
    assert rank["5xx"] == 0, rank["statuses"]
    assert rank["no_answer"] == 0, "a /rank request got no answer in 5 s"
    assert rank["missing_tier"] == 0
    assert reconciliation["duplicated"] == 0, reconciliation

    # /feedback: no 5xx (the outbox keeps what the broker cannot take), lost only what the
    # in-memory broker took as it went down (a known gap); anything else fails.
    assert feedback["5xx"] == 0, feedback["statuses"]
    down = next(
        (e for e in result["edges"] if e["fault"] == "broker-restart" and e["edge"] == "start"),
        None,
    )
    lost = set(reconciliation["lost_ids"])
    answered = {
        r["id"]: r["t"] + r["ms"] / 1000
        for r in result["requests"]
        if r["e"] == "feedback" and 200 <= r["s"] < 300 and r["id"] in lost
    }
    unexplained = {
        i for i, t in answered.items() if down is None or not down["at"] <= t <= down["done"]
    }
    assert not unexplained, f"lost outside the broker's shutdown: {sorted(unexplained)[:20]}"
    if lost:
        pytest.xfail(
            f"known gap: {len(lost)} events acknowledged by the in-memory broker as it shut down, lost"
        )
