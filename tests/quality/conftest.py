"""Fixtures for the quality gates: a private copy of generated data and settings around it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from smartstack.settings import Settings


@pytest.fixture
def data_dir(small_dataset: Path, tmp_path: Path) -> Path:
    """A copy of the session's generated data set that a test may corrupt."""
    target = tmp_path / "data"
    shutil.copytree(small_dataset / "raw", target / "raw")
    shutil.copy(small_dataset / "manifest.json", target / "manifest.json")
    return target


@pytest.fixture
def settings(data_dir: Path, tmp_path: Path) -> Settings:
    """Settings whose home (GX context, Data Docs, stores) is private to the test."""
    return Settings(home=tmp_path / "home", data_dir=data_dir)
