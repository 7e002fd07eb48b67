"""``smartstack ingest``, the first task of the DAGs: generate the data set, or take what landed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smartstack.data.schema import RAW_TABLES
from smartstack.datasets.adapter import LandOptions
from smartstack.datasets.landing import NothingLanded, Source, ingest
from smartstack.settings import Settings

SMARTSTACK = str(Path(sys.executable).parent / "smartstack")


def _digest(raw: Path) -> dict[str, str]:
    return {
        str(p.relative_to(raw)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(raw.rglob("*.parquet"))
    }


def _cli(args: list[str], data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMARTSTACK_HOME": str(data.parent / "home"),
           "SMARTSTACK_DATA_DIR": str(data)}  # fmt: skip
    return subprocess.run([SMARTSTACK, *args], env=env, capture_output=True, text=True, timeout=120)


def test_synthetic_ingest_is_repeatable_and_landed_ingest_reads_it_back(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", data_dir=tmp_path / "data")
    origin, counts = ingest(settings, Source.dataset, LandOptions(customers=200, seed=5))
    assert origin == "generated 200 customers, seed 5"
    assert set(counts) == set(RAW_TABLES)
    assert counts["customers"] == 200 and counts["transactions"] > 0
    first = _digest(settings.raw_dir)

    assert ingest(settings, Source.dataset, LandOptions(customers=200, seed=5))[1] == counts
    assert _digest(settings.raw_dir) == first, "a rerun must leave byte-identical tables"

    assert ingest(settings, Source.landed, LandOptions(customers=1, seed=0)) == ("landed", counts)
    assert _digest(settings.raw_dir) == first, "landed data is read, never rewritten"


def test_landed_ingest_names_the_tables_that_are_missing(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", data_dir=tmp_path / "data")
    ingest(settings, Source.dataset, LandOptions(customers=50, seed=1))
    shutil.rmtree(settings.raw_dir / "impressions")
    with pytest.raises(NothingLanded, match="no raw data for impressions"):
        ingest(settings, Source.landed, LandOptions())


def test_the_command_prints_row_counts_as_json_last(tmp_path: Path) -> None:
    done = _cli(["ingest", "--customers", "50", "--seed", "2"], tmp_path / "data")
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["customers"] == 50


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "--source", "landed"], "no raw data for customers"),
        (["ingest", "--source", "kafka"], "--source must be dataset or landed"),
    ],
)
def test_bad_input_exits_2_with_a_sentence(tmp_path: Path, args: list[str], message: str) -> None:
    done = _cli(args, tmp_path / "data")
    assert done.returncode == 2
    assert message in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
