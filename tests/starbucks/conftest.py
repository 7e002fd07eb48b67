"""Session fixture: a held-out sample of the public Starbucks files.

- ``holdout_sample``: the 200 members after the 300 of ``starbucks_train_sample`` (root
  conftest, which ``built_starbucks`` runs the pipeline on, beside the Starbucks files read
  once), transcript uncompressed (the adapter reads both forms).

The samples are extracted at run time (see ``starbucks_sample.py``): the data set's files stay
out of the repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from starbucks_sample import HOLDOUT_CUSTOMERS, TRAIN_CUSTOMERS, write_sample


@pytest.fixture(scope="session")
def holdout_sample(
    starbucks_source: Path,
    starbucks_transcript: list[str],
    starbucks_customers: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    chosen = set(starbucks_customers[TRAIN_CUSTOMERS : TRAIN_CUSTOMERS + HOLDOUT_CUSTOMERS])
    return write_sample(
        starbucks_source,
        tmp_path_factory.mktemp("sb-holdout") / "starbucks",
        chosen,
        starbucks_transcript,
        gzipped=False,
    )
