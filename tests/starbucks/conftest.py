"""Session fixtures: two samples of the public Starbucks files and the platform run on one.

- ``train_sample``: 300 customers (the lowest id hashes), transcript gzipped as published;
- ``holdout_sample``: the next 200 customers, transcript uncompressed (the adapter reads both);
- ``pipeline``: ``smartstack run --dataset starbucks --data-dir <train_sample>``, the README's
  command, in a subprocess with its own home: ingest, both gates, dbt, Feast, training of both
  labels in MLflow, promotion.

The samples are extracted at run time (see ``starbucks_sample.py``): the data set's files stay out of the
repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from starbucks_sample import (
    HOLDOUT_CUSTOMERS,
    TRAIN_CUSTOMERS,
    Run,
    customer_order,
    run_smartstack,
    source_dir,
    transcript_lines,
    write_sample,
)


@pytest.fixture(scope="session")
def source() -> Path:
    return source_dir()


@pytest.fixture(scope="session")
def transcript(source: Path) -> list[str]:
    return transcript_lines(source)


@pytest.fixture(scope="session")
def ordered_customers(source: Path) -> list[str]:
    return customer_order(source)


@pytest.fixture(scope="session")
def train_sample(
    source: Path, transcript: list[str], ordered_customers: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    chosen = set(ordered_customers[:TRAIN_CUSTOMERS])
    return write_sample(source, tmp_path_factory.mktemp("sb-train") / "starbucks", chosen,
                        transcript)


@pytest.fixture(scope="session")
def holdout_sample(
    source: Path, transcript: list[str], ordered_customers: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    chosen = set(ordered_customers[TRAIN_CUSTOMERS:TRAIN_CUSTOMERS + HOLDOUT_CUSTOMERS])
    return write_sample(source, tmp_path_factory.mktemp("sb-holdout") / "starbucks", chosen,
                        transcript, gzipped=False)


@pytest.fixture(scope="session")
def pipeline(train_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    home = tmp_path_factory.mktemp("sb-home")
    run = run_smartstack(["run", "--dataset", "starbucks", "--data-dir", str(train_sample)], home)
    assert run.returncode == 0, run.output[-6000:]
    return run
