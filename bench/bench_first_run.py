"""Time the README's run command on a fresh clone: `make run` from nothing to a served ranking.

Clones the repository's committed HEAD (or ``--commit``) into a new folder, runs `make run` there with
SMARTSTACK_EXIT_AFTER_RUN=1 (set everything up, start the stack, run the daily DAG, start the
ranking service, ask it for a customer's offers, stop everything), and reports the wall time,
the time of each phase from the command's own output, and the machine's load average before and
after (the development machine is shared, so load matters).

    .venv/bin/python bench/bench_first_run.py --clone-to /tmp/smartstack-first-run
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clone-to", type=Path, required=True, help="Replaced if it exists.")
    parser.add_argument("--commit", default="HEAD", help="The commit to run (default: HEAD).")
    args = parser.parse_args()

    if args.clone_to.exists():
        shutil.rmtree(args.clone_to)
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(args.clone_to)], check=True)
    subprocess.run(
        ["git", "-C", str(args.clone_to), "checkout", "--quiet", args.commit], check=True
    )
    commit = subprocess.run(["git", "-C", str(args.clone_to), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    log = args.clone_to.parent / f"{args.clone_to.name}.log"
    load_before = os.getloadavg()
    started = time.monotonic()
    marks: list[tuple[float, str]] = []
    with log.open("w") as out:
        process = subprocess.Popen(
            ["make", "run"],
            cwd=args.clone_to,
            env={**os.environ, "SMARTSTACK_EXIT_AFTER_RUN": "1", "COLUMNS": "120"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            if re.search(
                r"(✓ .*(ready|up)|✓ serving|run (success|failed) in|Smart Stack is up|"
                r"a ranked response)",
                line,
            ):
                marks.append((time.monotonic() - started, line.strip()))
        code = process.wait()
    wall = time.monotonic() - started
    load_after = os.getloadavg()

    print(f"commit {commit}; make run exit code {code}; log {log}")
    for seconds, line in marks:
        print(f"  {seconds:6.0f} s  {line}")
    print(f"wall time {wall:.0f} s ({wall / 60:.1f} min)")
    print("load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}".format(*load_before))
    print("load average (1, 5, 15 min) after:  {:.2f} {:.2f} {:.2f}".format(*load_after))
    return code


if __name__ == "__main__":
    sys.exit(main())
