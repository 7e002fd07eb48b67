"""Small samples of the public Starbucks files, written as a directory in the same format, and
the ``smartstack`` command run on them in a subprocess.

The data set's licence keeps its files out of the repository (see ../shared/data/README.md), so
the tests read ``../shared/data/starbucks`` (or ``$SMARTSTACK_STARBUCKS_DIR``) and extract their
samples at run time: the customers whose id hashes lowest (SHA-256), every line of theirs kept
byte for byte from ``profile.json`` and the transcript, ``portfolio.json`` copied whole. An
optional cut keeps only the transcript lines before an hour, as if the data ended there.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from smartstack.paths import PROJECT_ROOT

SOURCE = Path(
    os.environ.get(
        "SMARTSTACK_STARBUCKS_DIR", PROJECT_ROOT.parent / "shared" / "data" / "starbucks"
    )
)


def source_dir() -> Path:
    """The shared Starbucks files; skipped with a reason when absent, a failure in CI."""
    if not (SOURCE / "portfolio.json").is_file():
        message = f"the Starbucks files are not at {SOURCE} (set SMARTSTACK_STARBUCKS_DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SOURCE


def customer_order(source: Path) -> list[str]:
    """Every customer id, ordered by the SHA-256 of the id (a fixed, spread-out order)."""
    ids = [json.loads(line)["id"] for line in (source / "profile.json").open()]
    return sorted(ids, key=lambda c: hashlib.sha256(c.encode()).hexdigest())


def transcript_lines(source: Path) -> list[str]:
    with gzip.open(source / "transcript.json.gz", "rt", encoding="utf-8") as lines:
        return lines.readlines()


def write_sample(
    source: Path,
    target: Path,
    customers: set[str],
    transcript: list[str],
    *,
    gzipped: bool = True,
    before_hour: float | None = None,
) -> Path:
    """``target`` as a Starbucks directory holding only ``customers`` (and, with
    ``before_hour``, only the transcript lines before that hour)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copyfile(source / "portfolio.json", target / "portfolio.json")
    with (source / "profile.json").open() as profiles, (target / "profile.json").open("w") as out:
        out.writelines(line for line in profiles if json.loads(line)["id"] in customers)
    kept = [
        line
        for line in transcript
        if (record := json.loads(line))["person"] in customers
        and (before_hour is None or record["time"] < before_hour)
    ]
    if gzipped:
        with gzip.open(target / "transcript.json.gz", "wt", encoding="utf-8") as out:
            out.writelines(kept)
    else:
        (target / "transcript.json").write_text("".join(kept), encoding="utf-8")
    return target


def records(directory: Path) -> list[dict]:
    """The sample's transcript records (either file form)."""
    gz = directory / "transcript.json.gz"
    if gz.exists():
        with gzip.open(gz, "rt", encoding="utf-8") as lines:
            return [json.loads(line) for line in lines]
    return [json.loads(line) for line in (directory / "transcript.json").open()]


SMARTSTACK = str(Path(sys.executable).parent / "smartstack")
TRAIN_CUSTOMERS = 300
HOLDOUT_CUSTOMERS = 200


@dataclass(frozen=True)
class Run:
    home: Path
    returncode: int
    output: str


def run_smartstack(args: list[str], home: Path, **env: str) -> Run:
    """``smartstack <args>`` in a subprocess with its own home and no inherited settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSTACK_")}
    clean.update(SMARTSTACK_HOME=str(home), **env)
    done = subprocess.run(
        [SMARTSTACK, *args], env=clean, capture_output=True, text=True, check=False, timeout=900
    )
    return Run(home, done.returncode, done.stdout + done.stderr)
