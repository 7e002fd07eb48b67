"""Shared fixtures: a small generated data set, made once per test session."""

from __future__ import annotations

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
