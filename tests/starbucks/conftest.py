"""Session fixtures: the public Starbucks files, read once, and a held-out sample of them.

- ``holdout_sample``: the 200 customers after the 300 of ``starbucks_train_sample`` (root
  conftest, which ``built_starbucks`` runs the pipeline on), transcript uncompressed (the
  adapter reads both forms).

The samples are extracted at run time (see ``starbucks_sample.py``): the data set's files stay out of the
repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from starbucks_sample import (
    HOLDOUT_CUSTOMERS,
    TRAIN_CUSTOMERS,
    customer_order,
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
def holdout_sample(
    source: Path,
    transcript: list[str],
    ordered_customers: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    chosen = set(ordered_customers[TRAIN_CUSTOMERS : TRAIN_CUSTOMERS + HOLDOUT_CUSTOMERS])
    return write_sample(
        source,
        tmp_path_factory.mktemp("sb-holdout") / "starbucks",
        chosen,
        transcript,
        gzipped=False,
    )
