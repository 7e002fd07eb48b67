"""The chaos run's table reaches the CI log: a test records it as a user property (it travels
from a pytest-xdist worker with the test's report) and the terminal summary prints it."""

from __future__ import annotations

import pytest

TABLE = "chaos_table"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for status in ("passed", "failed", "xfailed"):
        for report in terminalreporter.stats.get(status, []):
            for name, value in getattr(report, "user_properties", []):
                if name == TABLE and report.when == "call":
                    terminalreporter.write_sep("=", f"chaos run ({report.nodeid}, {status})")
                    terminalreporter.write_line(str(value))
