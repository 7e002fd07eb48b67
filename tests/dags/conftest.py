"""The Airflow metadata database, migrated once per session and copied into each home."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import once_per_session
from tests.dags.airflow_helpers import migrated_database


@pytest.fixture(scope="session")
def airflow_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Shared by the test workers: each Airflow test copies it into a home of its own."""

    def make(folder: Path) -> dict[str, str]:
        return {"database": str(migrated_database(folder))}

    return Path(once_per_session(request, tmp_path_factory, "airflow-template", make)["database"])
