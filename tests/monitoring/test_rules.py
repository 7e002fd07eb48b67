"""The Prometheus rules (monitoring/prometheus/) pass `promtool check rules` and their unit
tests (`promtool test rules`: each alert fires on a stale or lagging series and stays quiet on
a healthy one), and a broken rule fails the check."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from smartstack.paths import PROJECT_ROOT

RULES = PROJECT_ROOT / "monitoring" / "prometheus"
# `make promtool` (a prerequisite of `make test`) unpacks it from Debian's prometheus package.
PROMTOOL = PROJECT_ROOT / ".cache" / "promtool" / "usr" / "bin" / "promtool"


@pytest.fixture(scope="module")
def promtool() -> Path:
    if not PROMTOOL.is_file():
        reason = f"no promtool at {PROMTOOL}: run `make promtool`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return PROMTOOL


def _run(promtool: Path, *args: str, cwd: Path = RULES) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_rules_are_valid(promtool: Path) -> None:
    done = _run(promtool, "check", "rules", "rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_unit_tests_pass(promtool: Path) -> None:
    done = _run(promtool, "test", "rules", "rules.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_severity_and_annotations() -> None:
    import yaml

    rules = yaml.safe_load((RULES / "rules.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert set(alerts) == {
        "FeatureViewStale",
        "ChampionOld",
        "StreamConsumerLagHigh",
        "EventOutboxNotDraining",
    }
    for rule in alerts.values():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert {"summary", "description"} <= set(rule["annotations"])


def test_a_broken_rule_fails_the_check(promtool: Path, tmp_path: Path) -> None:
    broken = (
        (RULES / "rules.yml")
        .read_text()
        .replace(
            "max by (view) (smartstack_feature_view_stale) == 1",
            "max by (view) (smartstack_feature_view_stale == 1",
        )
    )
    assert broken != (RULES / "rules.yml").read_text()
    (tmp_path / "rules.yml").write_text(broken)
    done = _run(promtool, "check", "rules", "rules.yml", cwd=tmp_path)
    assert done.returncode != 0
    assert "FAILED" in done.stdout + done.stderr
