"""Every step of the pipeline at one scale, each in a process of its own: wall time and peak memory.

The steps are the pipeline's own (``smartstack.pipeline.STEPS``, what ``smartstack run`` and the
Airflow DAGs run), each started as its ``smartstack`` command in the given home, one after the
other. A step's peak memory is the largest resident set of its process tree (the kernel's
``wait4`` rusage: the step and every child it waited for, dbt's included). A conditional step
(``promote``) runs when the earlier step's JSON result says so, as in ``smartstack run``.

    SMARTSTACK_HOME=var/bench/home1m .venv/bin/python bench/bench_scale.py \\
        --customers 1000000 [--from dbt_build] [--until train] [--skip STEP] [--out runs.json]

Settings come from the environment (``SMARTSTACK_ONLINE_STORE=redis REDIS_URL=...`` for Redis).
The table it prints is the one in ``docs/benchmarks.md`` ("One million customers").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from smartstack.pipeline import PARAMETERS, STEPS, Step

SMARTSTACK = str(Path(sys.executable).parent / "smartstack")


@dataclass
class StepRun:
    step: str
    state: str  # "success" | "skipped" | "failed (exit N)"
    seconds: float
    peak_gib: float
    result: str  # the step's last output line


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_step(step: Step, parameters: dict[str, object], log: Path) -> StepRun:
    """``smartstack <step>`` in a subprocess, its output appended to ``log``."""
    with log.open("a") as out:
        out.write(f"\n=== {step.name}: smartstack {' '.join(step.argv(parameters))}\n")
        out.flush()
        started = time.perf_counter()
        process = subprocess.Popen(
            [SMARTSTACK, *step.argv(parameters)], stdout=subprocess.PIPE, stderr=out, text=True
        )
        assert process.stdout is not None
        output = ""
        for line in process.stdout:
            out.write(line)
            output = (output + line)[-65536:]
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    process.returncode = code  # reaped by wait4 above: Popen must not wait for it again
    state = "success" if code == 0 else "skipped" if code in step.skip else f"failed (exit {code})"
    return StepRun(step.name, state, seconds, usage.ru_maxrss / 1024**2, _last_line(output))


def _verdict(runs: list[StepRun], name: str) -> dict[str, object]:
    result = next((r.result for r in runs if r.step == name), "")
    try:
        parsed = json.loads(result)
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def main() -> None:
    names = [step.name for step in STEPS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=int(str(PARAMETERS["seed"])))
    parser.add_argument("--from", dest="first", choices=names, default=names[0])
    parser.add_argument("--until", dest="last", choices=names, default=names[-1])
    parser.add_argument("--skip", action="append", choices=names, default=[], help="repeatable")
    parser.add_argument("--out", type=Path, help="write the runs as JSON here")
    parser.add_argument("--log", type=Path, default=Path("bench_scale.log"))
    args = parser.parse_args()

    if "SMARTSTACK_HOME" not in os.environ:
        parser.error("set SMARTSTACK_HOME: the steps write there")
    parameters = {**PARAMETERS, "customers": args.customers, "seed": args.seed}
    chosen = [
        step
        for step in STEPS[names.index(args.first) : names.index(args.last) + 1]
        if step.name not in args.skip
    ]
    runs: list[StepRun] = []
    print(f"load average before: {os.getloadavg()}", flush=True)
    for step in chosen:
        if step.only_if and not _verdict(runs, step.only_if.step).get(step.only_if.key):
            run = StepRun(step.name, "skipped", 0.0, 0.0, f"{step.only_if.step} said no")
        else:
            run = run_step(step, parameters, args.log)
        runs.append(run)
        print(f"{run.step:<28} {run.state:<16} {run.seconds:8.1f} s {run.peak_gib:6.2f} GiB")
        if run.state.startswith("failed"):
            print(f"  see {args.log}: {run.result[:200]}")
            break
    print(f"load average after: {os.getloadavg()}")
    print("\n| step | state | time | peak memory |\n|---|---|---:|---:|")
    for run in runs:
        print(f"| `{run.step}` | {run.state} | {run.seconds:.1f} s | {run.peak_gib:.2f} GiB |")
    if args.out:
        args.out.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    if any(r.state.startswith("failed") for r in runs):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
