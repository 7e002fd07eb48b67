"""The Spark profile's builds, shared by the tests of this folder (one worker runs it whole).

One home, its data cut at the dbt tests' date then brought up to date: a first dbt build on
Spark ``local[2]`` of the cut data, then an incremental build of the whole data, which must
equal DuckDB's full build of the same data (tests/conftest's ``built`` home).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SMARTSTACK, BuiltHome, project_environment
from tests.dbt.dbt_build_helpers import CUT_AT, cut_raw_data
from tests.spark.spark_helpers import spark_marts


@dataclass(frozen=True)
class SparkHome:
    """A home on the spark warehouse, its marts as first built from the cut data, and the
    output of each dbt build."""

    home: Path
    cut_marts: dict[str, pd.DataFrame]
    outputs: tuple[str, ...]

    @property
    def features_dir(self) -> Path:
        return self.home / "data" / "features"

    def environment(self) -> dict[str, str]:
        return project_environment(SMARTSTACK_HOME=str(self.home), SMARTSTACK_WAREHOUSE="spark")

    def smartstack(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SMARTSTACK, *args], env=self.environment(), capture_output=True,
                              text=True, timeout=900, check=False)


@pytest.fixture(scope="session")
def spark_home(built: BuiltHome, tmp_path_factory: pytest.TempPathFactory) -> SparkHome:
    home = tmp_path_factory.mktemp("spark") / "home"
    data = home / "data"
    cut_raw_data(built.data_dir, data, CUT_AT)
    spark = SparkHome(home, {}, ())
    # The data tests run on the final build; the first builds the models and their unit tests.
    cut = spark.smartstack("dbt", "build", "--select", "resource_type:model resource_type:unit_test")
    assert cut.returncode == 0, (cut.stdout + cut.stderr)[-6000:]
    cut_marts = spark_marts(spark.features_dir)
    # The rest of the data arrives: the raw tables now hold everything up to the snapshot.
    shutil.rmtree(data / "raw")
    shutil.copytree(built.data_dir / "raw", data / "raw")
    incremental = spark.smartstack("dbt", "build")
    assert incremental.returncode == 0, (incremental.stdout + incremental.stderr)[-6000:]
    return SparkHome(home, cut_marts, (cut.stdout, incremental.stdout))
