"""``smartstack quality validate``: a summary, exit 0 on pass and 1 with a sentence on failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from smartstack.cli import app
from smartstack.settings import Settings, get_settings

from .helpers import EXPECTATIONS, rewrite_raw

runner = CliRunner()


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("SMARTSTACK_HOME", str(settings.home))
    monkeypatch.setenv("SMARTSTACK_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def validate(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["quality", "validate", "--expectations-dir", str(EXPECTATIONS),
                                 *args])
    return result.exit_code, result.output


def test_validate_passes_then_fails(env: Settings, data_dir: Path) -> None:
    code, output = validate("--stage", "raw", "--table", "customers")
    assert code == 0, output
    assert "raw gate passed" in output and "index.html" in output

    def unknown_card(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[0, "card_product"] = "Titanium"
        return frame

    rewrite_raw(data_dir, "customers", unknown_card)
    code, output = validate("--stage", "raw", "--table", "customers")
    assert code == 1, output
    assert "Titanium" in output and "raw gate failed" in output


def test_unknown_stage_exits_2(env: Settings) -> None:
    code, output = validate("--stage", "gold")
    assert code == 2 and "unknown stage" in output
