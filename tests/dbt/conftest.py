"""Session fixtures that really run dbt on a generated data set.

Three builds share the work of every test: the full build of the whole data set that the
pipeline's `dbt build` step made in the session's built home (tests/conftest), a build of the
same data cut at a snapshot date (for the no-future-data test), and an incremental build that
brings the cut data set up to date (for the incremental-equals-full-refresh test).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dbt_build_helpers import CUT_AT, Build, CutThenIncremental, cut_raw_data, run_smartstack

from tests.conftest import BuiltHome


@pytest.fixture(scope="session")
def full_data(built: BuiltHome) -> Path:
    """The session's generated data set (raw tables; read only)."""
    return built.data_dir


@pytest.fixture(scope="session")
def full_build(built: BuiltHome) -> Build:
    """The pipeline's `dbt build` of the whole data set, in the session's built home: a first
    build, so every incremental model was built in full."""
    return Build(built.home, built.data_dir, built.returncode, built.output)


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
