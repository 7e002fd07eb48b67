"""Run the pipeline's steps (:mod:`smartstack.pipeline`) in this process, in order.

Each step is its ``smartstack`` command, invoked in-process with the run's settings in the click
context, so a step here runs exactly what the Airflow task of the same name runs, without a
new interpreter per step. The runner reads a step's exit code as the DAGs do: 0 done, a skip
code skipped, anything else stops the run (the steps after it never start, and the error says
which they are). A conditional step (``only_if``) runs when the earlier step's JSON result says
so, and is skipped with that result's reason otherwise.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from typing import Any, TextIO

import click

from smartstack.pipeline import Step
from smartstack.settings import Settings


class StepFailed(RuntimeError):
    """A step exited with a failure; the message names it, its exit code and what did not run."""

    def __init__(self, step: Step, code: int, skipped: Sequence[str]) -> None:
        later = ", ".join(skipped) or "nothing"
        super().__init__(f"step {step.name} exited {code}; not run: {later}")
        self.step = step
        self.code = code


@dataclass
class StepOutcome:
    step: Step
    state: str  # "success" | "skipped"
    seconds: float
    result: Any = None  # the last output line, parsed as JSON when it is JSON
    note: str = ""


@dataclass
class RunReport:
    outcomes: list[StepOutcome] = field(default_factory=list)

    def result(self, name: str) -> Any:
        return next((o.result for o in self.outcomes if o.step.name == name), None)


class _Tee(io.TextIOBase):
    """Passes output through and keeps its last non-empty line (a step's result)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._buffer = ""
        self.last = ""

    def write(self, text: str) -> int:
        self._out.write(text)
        self._buffer = (self._buffer + text)[-65536:]
        lines = [line for line in self._buffer.splitlines() if line.strip()]
        if lines:
            self.last = lines[-1].strip()
        return len(text)

    def flush(self) -> None:
        self._out.flush()


def run_steps(
    command: click.Command,
    steps: Sequence[Step],
    settings: Settings,
    parameters: Mapping[str, object],
    on_start: Callable[[int, Step], None] = lambda i, step: None,
    on_done: Callable[[int, StepOutcome], None] = lambda i, outcome: None,
) -> RunReport:
    """Run ``steps`` through ``command`` (the ``smartstack`` CLI) with ``settings``; raises
    :class:`StepFailed` at the first failure."""
    report = RunReport()
    for index, step in enumerate(steps):
        on_start(index, step)
        started = time.perf_counter()
        if step.only_if is not None:
            verdict = report.result(step.only_if.step) or {}
            if not verdict.get(step.only_if.key):
                note = str(verdict.get("reason", f"{step.only_if.step} said no"))
                outcome = StepOutcome(step, "skipped", 0.0, note=note)
                report.outcomes.append(outcome)
                on_done(index, outcome)
                continue
        tee = _Tee(sys.stdout)
        with redirect_stdout(tee):
            code = command.main(
                args=step.argv(parameters), prog_name="smartstack", obj=settings,
                standalone_mode=False,
            )  # fmt: skip
        code = code if isinstance(code, int) else 0
        seconds = time.perf_counter() - started
        if code in step.skip:
            outcome = StepOutcome(step, "skipped", seconds, note=tee.last)
        elif code == 0:
            outcome = StepOutcome(step, "success", seconds, result=_parsed(tee.last))
        else:
            raise StepFailed(step, code, [s.name for s in steps[index + 1 :]])
        report.outcomes.append(outcome)
        on_done(index, outcome)
    return report


def _parsed(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return line
