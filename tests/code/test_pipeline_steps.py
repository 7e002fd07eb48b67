"""The pipeline's one definition is consistent: the order ``smartstack run`` follows satisfies
every wait Airflow's tasks are built from."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from smartstack.cli import app
from smartstack.pipeline import STEPS, predecessors


def test_every_step_waits_only_for_steps_listed_before_it() -> None:
    done: set[str] = set()
    for step in STEPS:
        waits = {earlier.name for earlier in predecessors(step)}
        assert waits <= done, f"{step.name} waits for {sorted(waits - done)}, listed after it"
        assert waits or step is STEPS[0], f"{step.name} waits for nothing"
        done.add(step.name)


def test_a_step_without_its_own_waits_follows_the_one_listed_before_it() -> None:
    for earlier, later in zip(STEPS, STEPS[1:], strict=False):
        if later.after is None:
            assert predecessors(later) == (earlier,)


def test_the_steps_command_lists_what_each_step_waits_for() -> None:
    done = CliRunner().invoke(app, ["steps", "--json"])
    assert done.exit_code == 0, done.output
    listed = {row["name"]: row["after"] for row in json.loads(done.output)}
    assert listed == {s.name: [e.name for e in predecessors(s)] for s in STEPS}
    assert listed["monitor_outcomes"] == ["promote"]
