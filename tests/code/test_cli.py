"""The command line: help on every command, clear sentences and exit codes on bad input."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from smartstack.cli import app

runner = CliRunner()


def test_every_command_has_help() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = [name for name in ("generate", "settings", "run") if name in result.output]
    assert commands == ["generate", "settings", "run"]
    for command in commands:
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0 and "Usage" in sub.output, command


def test_generate_writes_the_requested_scale(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["generate", "--customers", "120", "--seed", "3", "--out", str(tmp_path), "--workers", "1"],
    )
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "raw" / "customers").num_rows == 120
    assert (tmp_path / "manifest.json").exists()


@pytest.mark.parametrize("args", [["--customers", "0"], ["--customers", "many"], ["--seed", "x"]])
def test_bad_arguments_exit_2_with_a_message(args: list[str], tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "Invalid value" in result.output
    assert not (tmp_path / "raw").exists()


def test_unwritable_output_is_one_sentence_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["generate", "--customers", "10", "--out", str(blocker / "x")])
    assert result.exit_code == 2
    assert "cannot write to" in result.output
    assert "Traceback" not in result.output
