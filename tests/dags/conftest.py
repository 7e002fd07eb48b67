"""The Airflow metadata database, migrated once per session and copied into each home."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dags.airflow_helpers import migrated_database


@pytest.fixture(scope="session")
def airflow_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_database(tmp_path_factory.mktemp("airflow-template"))
