"""Shared fixtures: a small generated data set, made once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartstack.data.generator import GeneratorConfig, generate

SMALL = GeneratorConfig(customers=1_500, seed=11, chunk_size=500)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw and ground-truth tables for 1,500 customers (3 chunks), generated once."""
    out = tmp_path_factory.mktemp("generated")
    generate(SMALL, out, workers=2)
    return out


# `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI "so that subprocesses inherit it";
# in a test session that sends every later `smartstack`, Airflow or BentoML subprocess to the
# registry of whichever test called it last. Tests that start subprocesses pass the URI they
# mean explicitly, so the exported one is dropped after each test.
_MLFLOW_EXPORTS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
_AT_START = {name: os.environ.get(name) for name in _MLFLOW_EXPORTS}


@pytest.fixture(autouse=True)
def _no_exported_mlflow_uri() -> Iterator[None]:
    yield
    for name, value in _AT_START.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
