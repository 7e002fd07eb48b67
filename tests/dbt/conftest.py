"""Session fixtures that really run dbt on a small generated data set.

Three builds share the work of every test: a full-refresh build of the whole data set through
the ``smartstack dbt build`` command, a build of the same data cut at a snapshot date (for the
no-future-data test), and an incremental build that brings the cut data set up to date (for the
incremental-equals-full-refresh test).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dbt_build_helpers import CUT_AT, Build, CutThenIncremental, cut_raw_data, run_smartstack

from smartstack.data.generator import GeneratorConfig, generate

CUSTOMERS = 500
SEED = 11


@pytest.fixture(scope="session")
def full_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data-full")
    generate(GeneratorConfig(customers=CUSTOMERS, seed=SEED), out, workers=1)
    return out


@pytest.fixture(scope="session")
def full_build(full_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """``smartstack dbt build --full-refresh`` on the whole data set."""
    return run_smartstack(["dbt", "build", "--full-refresh"], tmp_path_factory.mktemp("home-full"),
                          full_data)


@pytest.fixture(scope="session")
def cut_then_incremental(full_data: Path, tmp_path_factory: pytest.TempPathFactory
                         ) -> CutThenIncremental:
    home = tmp_path_factory.mktemp("home-cut")
    data_dir = tmp_path_factory.mktemp("data-cut")
    cut_raw_data(full_data, data_dir, CUT_AT)
    cut = run_smartstack(["dbt", "build"], home, data_dir)
    assert cut.returncode == 0, cut.output[-4000:]
    cut_features = cut.features()
    # The rest of the data arrives: the raw tables now hold everything up to the snapshot.
    shutil.rmtree(data_dir / "raw")
    shutil.copytree(full_data / "raw", data_dir / "raw")
    incremental = run_smartstack(["dbt", "build"], home, data_dir)
    return CutThenIncremental(cut_features, cut, incremental)
